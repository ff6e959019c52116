// Package control serves and reads vipd's status over a unix socket: the document that
// `vipctl status` prints, as JSON over HTTP on a socket that only root can open.
package control
