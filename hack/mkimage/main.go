// Command mkimage writes a FROM-scratch container image as an OCI image layout
// archive (OCI Image Format Specification v1.1, "image-layout.md"): oci-layout,
// index.json, and blobs for one manifest, one config and one gzipped tar layer
// holding the files named with -add. It needs no registry, no daemon and only
// the standard library.
//
//	mkimage -o bin/vipd-image.tar -ref localhost/vipd:dev -entrypoint /vipd -add /vipd=bin/image/vipd
//
// The index names the image twice: org.opencontainers.image.ref.name (read by
// podman and skopeo) and io.containerd.image.name (read by `ctr images import`),
// both with the full reference. Output is reproducible: every timestamp is
// SOURCE_DATE_EPOCH, or the Unix epoch when that is unset.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Media types and annotations, OCI image-spec v1.1 "media-types.md" and
// "annotations.md"; io.containerd.image.name is containerd's (images/annotations.go).
const (
	mediaTypeIndex    = "application/vnd.oci.image.index.v1+json"
	mediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaTypeConfig   = "application/vnd.oci.image.config.v1+json"
	mediaTypeLayer    = "application/vnd.oci.image.layer.v1.tar+gzip"

	annotationRefName        = "org.opencontainers.image.ref.name"
	annotationContainerdName = "io.containerd.image.name"
)

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *platform         `json:"platform,omitempty"`
}

type index struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Manifests     []descriptor `json:"manifests"`
}

type manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        descriptor   `json:"config"`
	Layers        []descriptor `json:"layers"`
}

// imageConfig is the subset of the OCI image config ("config.md") we set.
type imageConfig struct {
	Created      string `json:"created"`
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Config       struct {
		Entrypoint []string `json:"Entrypoint,omitempty"`
		Cmd        []string `json:"Cmd,omitempty"`
		Env        []string `json:"Env,omitempty"`
		WorkingDir string   `json:"WorkingDir,omitempty"`
	} `json:"config"`
	RootFS struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
	History []struct {
		Created   string `json:"created"`
		CreatedBy string `json:"created_by"`
	} `json:"history"`
}

// file is one -add: a host file copied into the image.
type file struct {
	dst string // absolute path in the image
	src string // host path
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var (
		out        = flag.String("o", "", "output archive `path`")
		ref        = flag.String("ref", "", "image `reference`, e.g. localhost/vipd:dev")
		arch       = flag.String("arch", runtime.GOARCH, "image `architecture` (GOARCH spelling)")
		entrypoint listFlag
		cmd        listFlag
		adds       listFlag
	)
	flag.Var(&entrypoint, "entrypoint", "entrypoint `word`; repeat for more")
	flag.Var(&cmd, "cmd", "default argument `word`; repeat for more")
	flag.Var(&adds, "add", "`/dst=src`: copy host file src to /dst (mode kept); repeat for more")
	flag.Parse()
	if err := run(*out, *ref, *arch, entrypoint, cmd, adds); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func run(out, ref, arch string, entrypoint, cmd, adds []string) error {
	if out == "" || ref == "" || len(adds) == 0 || flag.NArg() != 0 {
		flag.Usage()
		return errors.New("need -o, -ref and at least one -add, and no arguments")
	}
	if !strings.Contains(ref, ":") && !strings.Contains(ref, "@") {
		ref += ":latest"
	}
	var files []file
	for _, a := range adds {
		dst, src, ok := strings.Cut(a, "=")
		if !ok || !path.IsAbs(dst) || path.Clean(dst) != dst || dst == "/" || src == "" {
			return fmt.Errorf("bad -add %q, want /dst=src", a)
		}
		files = append(files, file{dst: dst, src: src})
	}
	mtime, err := sourceDate()
	if err != nil {
		return err
	}

	layerTar, err := buildLayer(files, mtime)
	if err != nil {
		return err
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression) // header has no name and ModTime 0
	if _, err := zw.Write(layerTar); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}

	var cfg imageConfig
	cfg.Created = mtime.UTC().Format(time.RFC3339)
	cfg.Architecture, cfg.OS = arch, "linux"
	cfg.Config.Entrypoint, cfg.Config.Cmd = entrypoint, cmd
	cfg.Config.Env = []string{"PATH=/"}
	cfg.Config.WorkingDir = "/"
	cfg.RootFS.Type = "layers"
	cfg.RootFS.DiffIDs = []string{digest(layerTar)}
	cfg.History = append(cfg.History, struct {
		Created   string `json:"created"`
		CreatedBy string `json:"created_by"`
	}{cfg.Created, "hack/mkimage " + strings.Join(adds, " ")})
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return err
	}

	layerDesc := descriptor{MediaType: mediaTypeLayer, Digest: digest(gz.Bytes()), Size: int64(gz.Len())}
	cfgDesc := descriptor{MediaType: mediaTypeConfig, Digest: digest(cfgJSON), Size: int64(len(cfgJSON))}
	manJSON, err := json.Marshal(manifest{
		SchemaVersion: 2, MediaType: mediaTypeManifest, Config: cfgDesc, Layers: []descriptor{layerDesc},
	})
	if err != nil {
		return err
	}
	idxJSON, err := json.Marshal(index{
		SchemaVersion: 2, MediaType: mediaTypeIndex,
		Manifests: []descriptor{{
			MediaType: mediaTypeManifest, Digest: digest(manJSON), Size: int64(len(manJSON)),
			Annotations: map[string]string{annotationRefName: ref, annotationContainerdName: ref},
			Platform:    &platform{Architecture: arch, OS: "linux"},
		}},
	})
	if err != nil {
		return err
	}

	var arc bytes.Buffer
	tw := tar.NewWriter(&arc)
	entries := []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", idxJSON},
		{blobPath(layerDesc), gz.Bytes()},
		{blobPath(cfgDesc), cfgJSON},
		{blobPath(descriptor{Digest: digest(manJSON)}), manJSON},
	}
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: mtime, Format: tar.FormatPAX}); err != nil {
			return err
		}
	}
	for _, e := range entries {
		h := &tar.Header{Typeflag: tar.TypeReg, Name: e.name, Mode: 0o644, Size: int64(len(e.data)), ModTime: mtime, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(e.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return writeFileAtomic(out, arc.Bytes())
}

// buildLayer returns an uncompressed tar of files and their parent
// directories, sorted by path, owned by root, stamped mtime.
func buildLayer(files []file, mtime time.Time) ([]byte, error) {
	dirs := map[string]bool{}
	byDst := map[string]file{}
	for _, f := range files {
		if _, dup := byDst[f.dst]; dup {
			return nil, fmt.Errorf("%s added twice", f.dst)
		}
		byDst[f.dst] = f
		for d := path.Dir(f.dst); d != "/"; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	var names []string
	for d := range dirs {
		names = append(names, d)
	}
	for d := range byDst {
		names = append(names, d)
	}
	sort.Strings(names)

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range names {
		h := &tar.Header{Name: strings.TrimPrefix(name, "/"), ModTime: mtime, Format: tar.FormatPAX}
		f, isFile := byDst[name]
		if !isFile {
			h.Typeflag, h.Name, h.Mode = tar.TypeDir, h.Name+"/", 0o755
			if err := tw.WriteHeader(h); err != nil {
				return nil, err
			}
			continue
		}
		data, err := os.ReadFile(f.src)
		if err != nil {
			return nil, err
		}
		st, err := os.Stat(f.src)
		if err != nil {
			return nil, err
		}
		h.Typeflag, h.Mode, h.Size = tar.TypeReg, int64(st.Mode().Perm()), int64(len(data))
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// sourceDate honours SOURCE_DATE_EPOCH (reproducible-builds.org).
func sourceDate() (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return time.Unix(0, 0), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH: %w", err)
	}
	return time.Unix(n, 0), nil
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func blobPath(d descriptor) string {
	return "blobs/sha256/" + strings.TrimPrefix(d.Digest, "sha256:")
}

// writeFileAtomic writes through a temporary file in the same directory, so
// a reader never sees half an archive.
func writeFileAtomic(name string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(name), ".mkimage-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, bytes.NewReader(data)); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}
