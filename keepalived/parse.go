package keepalived

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// ErrSyntax is wrapped by every error about a keepalived.conf that cannot be read.
var ErrSyntax = errors.New("keepalived: syntax error")

// ErrUnsupported is wrapped by every error about a directive that has no vipd
// equivalent safe to guess (IPsec AH, a VIP on another interface).
var ErrUnsupported = errors.New("keepalived: cannot convert")

// Error is a problem at a line of a keepalived.conf.
type Error struct {
	Pos Pos
	Msg string
	Err error // ErrSyntax or ErrUnsupported
}

func (e *Error) Error() string { return fmt.Sprintf("keepalived: %s: %s", e.Pos, e.Msg) }

// Unwrap returns ErrSyntax or ErrUnsupported.
func (e *Error) Unwrap() error { return e.Err }

// Pos is a line of a file.
type Pos struct {
	File string // as shown to the operator: relative to the main file's directory
	Line int
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d", p.File, p.Line) }

// node is one statement: a keyword, its arguments, and the block after it.
type node struct {
	Pos   Pos
	Key   string
	Args  []string
	Block []*node // nil: no block
	open  bool    // a block was opened
}

func (n *node) arg(i int) string {
	if i < len(n.Args) {
		return n.Args[i]
	}
	return ""
}

// token is a word, "{", "}" or the end of a line.
type token struct {
	text   string
	quoted bool
	eol    bool
	pos    Pos
}

func (t token) is(s string) bool { return !t.quoted && !t.eol && t.text == s }

// maxIncludeDepth bounds include nesting; keepalived's own limit is 8.
const maxIncludeDepth = 8

// reader reads files; absolute paths are resolved under root.
type reader struct {
	root  string // "/" on the host; a copy of one otherwise
	base  string // directory of the main file: positions are shown relative to it
	notes *[]Note
	files []string // in the order read, so notes can follow it
}

func (r *reader) hostPath(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Join(r.root, p)
	}
	return p
}

func (r *reader) show(p string) string {
	if rel, err := filepath.Rel(r.base, p); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return p
}

// tokens reads path (a path on this machine) and the files it includes.
func (r *reader) tokens(path string, depth int, from Pos) ([]token, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if depth == 0 {
			return nil, fmt.Errorf("keepalived: %w", err)
		}
		return nil, &Error{from, fmt.Sprintf("include: %v", err), ErrSyntax}
	}
	name := r.show(path)
	r.files = append(r.files, name)
	var out []token
	for i, line := range strings.Split(string(data), "\n") {
		pos := Pos{name, i + 1}
		words, err := splitLine(line, pos)
		if err != nil {
			return nil, err
		}
		if len(words) > 0 && words[0].is("include") {
			inc, err := r.include(path, words, depth, pos)
			if err != nil {
				return nil, err
			}
			out = append(out, inc...)
			continue
		}
		out = append(out, words...)
		out = append(out, token{eol: true, pos: pos})
	}
	return out, nil
}

// include expands `include PATTERN`: a glob, relative to the directory of the
// including file, as keepalived does; matches are read in sorted order.
func (r *reader) include(from string, words []token, depth int, pos Pos) ([]token, error) {
	if len(words) != 2 {
		return nil, &Error{pos, "include takes one file name or glob pattern", ErrSyntax}
	}
	if depth+1 > maxIncludeDepth {
		return nil, &Error{pos, fmt.Sprintf("include nested deeper than %d files (a loop?)", maxIncludeDepth), ErrSyntax}
	}
	pattern := words[1].text
	if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(filepath.Dir(from), pattern)
	} else {
		pattern = r.hostPath(pattern)
	}
	matches, err := filepath.Glob(pattern)
	if err != nil {
		return nil, &Error{pos, fmt.Sprintf("include %q: %v", words[1].text, err), ErrSyntax}
	}
	if len(matches) == 0 {
		*r.notes = append(*r.notes, Note{pos, fmt.Sprintf("include %s: no file matches (keepalived skips it too)", words[1].text)})
		return nil, nil
	}
	slices.Sort(matches)
	var out []token
	for _, m := range matches {
		if st, err := os.Stat(m); err == nil && st.IsDir() {
			continue
		} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, &Error{pos, fmt.Sprintf("include %s: %v", m, err), ErrSyntax}
		}
		t, err := r.tokens(m, depth+1, pos)
		if err != nil {
			return nil, err
		}
		out = append(out, t...)
	}
	return out, nil
}

// splitLine splits a line into words: '#' and '!' start a comment outside
// quotes, "double quotes" make one word, and braces are words of their own.
func splitLine(line string, pos Pos) ([]token, error) {
	var out []token
	var cur strings.Builder
	inWord := false
	flush := func() {
		if inWord {
			out = append(out, token{text: cur.String(), pos: pos})
			cur.Reset()
			inWord = false
		}
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '"':
			flush()
			end := strings.IndexByte(line[i+1:], '"')
			if end < 0 {
				return nil, &Error{pos, "unclosed quote", ErrSyntax}
			}
			out = append(out, token{text: line[i+1 : i+1+end], quoted: true, pos: pos})
			i += end + 1
		case c == '#' || c == '!':
			flush()
			return out, nil
		case c == '{' || c == '}':
			flush()
			out = append(out, token{text: string(c), pos: pos})
		case c == ' ' || c == '\t' || c == '\r':
			flush()
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	flush()
	return out, nil
}

// parse builds the statement tree. A block opens with "{" at the end of the
// keyword's line or alone on the next line, and closes with "}".
func parse(toks []token) ([]*node, error) {
	p := &parser{toks: toks}
	nodes, err := p.block(nil)
	if err != nil {
		return nil, err
	}
	return nodes, nil
}

type parser struct {
	toks []token
	i    int
}

func (p *parser) block(opener *node) ([]*node, error) {
	nodes := []*node{}
	var cur *node
	for p.i < len(p.toks) {
		t := p.toks[p.i]
		p.i++
		switch {
		case t.eol:
			cur = nil
		case t.is("{"):
			target := cur
			if target == nil && len(nodes) > 0 && !nodes[len(nodes)-1].open {
				target = nodes[len(nodes)-1] // brace on the line after the keyword
			}
			if target == nil || target.open {
				return nil, &Error{t.pos, "{ without a keyword before it", ErrSyntax}
			}
			target.open = true
			children, err := p.block(target)
			if err != nil {
				return nil, err
			}
			target.Block = children
			cur = nil
		case t.is("}"):
			if opener == nil {
				return nil, &Error{t.pos, "} without a matching {", ErrSyntax}
			}
			return nodes, nil
		default:
			if cur == nil {
				cur = &node{Pos: t.pos, Key: t.text}
				nodes = append(nodes, cur)
			} else {
				cur.Args = append(cur.Args, t.text)
			}
		}
	}
	if opener != nil {
		return nil, &Error{opener.Pos, fmt.Sprintf("%s: the { opened here is never closed", strings.TrimSpace(opener.Key+" "+opener.arg(0))), ErrSyntax}
	}
	return nodes, nil
}
