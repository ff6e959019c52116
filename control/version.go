package control

// Version is vipd's version, set at build time with
// -ldflags "-X github.com/vipd/vipd/control.Version=...". vipd, vipctl and the
// manifests read it from here, so none of them imports the daemon.
var Version = "dev"

// DefaultSocket is where vipd serves its control socket unless told otherwise.
const DefaultSocket = "/run/vipd/vipd.sock"
