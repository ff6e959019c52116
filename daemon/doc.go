// Package daemon runs vipd: it turns a validated config.Config into VRRP instances (RFC 9568,
// RFC 3768) that hold virtual IPs on real interfaces, and serves their status.
//
// Each instance is one goroutine that owns its state and drives an election.Machine
// from one select loop: packets from its vrrp.Conn, the machine's deadline, link and
// address updates from netlink, health changes, announcement rounds, status requests,
// and shutdown. The OS is reached only through small interfaces (see osDeps), so the
// loop is tested without root under testing/synctest.
package daemon
