// Package health implements local health checks (HTTP(S) GET, TCP connect,
// exec) with rise/fall hysteresis and weights, and turns their state into a
// priority penalty for VRRP, in the manner of keepalived's track_script with
// a negative weight applied to the priority of RFC 9568 §6.1.
//
// # Effective priority
//
// A check that is down lowers the instance's priority by its Weight; the
// penalty is the sum of the weights of the down checks, and
// EffectivePriority(base, penalty) is what the instance advertises. Health
// tracking only moves the VIP away from a live master whose apiserver died
// when the backups preempt (RFC 9568 §6.1 Preempt_Mode True), and only when
// a check's Weight is larger than the spread of the base priorities.
//
// # Initial state: down
//
// Every check starts down, with a streak of 0, and needs Rise consecutive
// successes to count as up. Before `kubeadm init` no apiserver answers
// anywhere, so every master carries the same penalty from its first second
// and the highest base priority keeps the VIP; kubeadm on that node (or on
// any node, once its apiserver is up and preemption moves the VIP to it)
// reaches its apiserver through the VIP. A node that starts, or whose vipd
// restarts, while the others are healthy comes up penalised, so it cannot
// preempt on the strength of an apiserver it has not yet seen; it claims its
// place only after Rise successes. Starting up and waiting for Fall failures
// instead would let a starting node briefly advertise its full priority,
// take the VIP, and lose it again a few seconds later: a flap on every start.
//
// # Hysteresis
//
// The apiserver check (DefaultAPIServer) probes /readyz every 2s with a 1s
// timeout; 3 consecutive failures (about 4–6s) mark it down and 5
// consecutive successes (about 8–10s) mark it up again. The numbers:
//   - kubeadm's apiserver readiness probe uses period 1s and failureThreshold
//     3, so kubelet itself takes ~3s to call it unready; /readyz fails
//     while etcd elects a leader (~1–2s with etcd's default 1s election
//     timeout) and during GC or load spikes. Fall 3 at 2s rides those out.
//   - VRRP with a 1s advertisement interval needs ~3.6s (Master_Down_Interval,
//     RFC 9568 §6.1) to notice a dead master, so a down check moves the VIP
//     about as fast as a dead node does; faster would only add flaps.
//   - Coming back is deliberately slower than going down (Rise 5 > Fall 3):
//     a VIP that has moved away should move back only to an apiserver that
//     has stayed ready for ~10s. An apiserver that flaps faster than Rise or
//     Fall probes never changes the penalty at all.
//
// # Probes
//
// http and https succeed on status 200 only (redirects are not followed)
// and never use a proxy. https verifies the server against CAFile (the
// system roots when empty) and never skips verification: while CAFile is
// missing or unreadable (before kubeadm has created
// /etc/kubernetes/pki/ca.crt) the check fails with "CA file ... not
// readable yet", and it verifies as soon as the file appears. The name
// verified is ServerName; without one, a loopback address in the URL
// verifies DefaultTLSServerName ("kubernetes": kubeadm's apiserver
// certificate has no 127.0.0.1 SAN) and any other host verifies itself.
//
// An apiserver with --anonymous-auth=false answers /readyz with 401; one
// whose RBAC refuses the caller, 403. Those results carry
// OutcomeUnauthorized and OutcomeForbidden, and their error says how to
// fix it: CertFile and KeyFile give the check a client certificate, or the
// apiserver can allow anonymous access to its health endpoints (Kubernetes
// 1.32 AuthenticationConfiguration anonymous.conditions). CAFile, CertFile
// and KeyFile are read when their modification time or size changes, not
// on every probe; a missing one fails the check, naming it.
//
// tcp succeeds when a connection is established. exec succeeds when the
// command exits 0 within the timeout; on timeout its whole process group is
// killed, and its output, truncated, goes into Result.Err. interface
// succeeds while the interface exists, is administratively up (IFF_UP) and
// has carrier (IFF_RUNNING); it probes every second and acts on the first
// result.
//
// # Fault checks
//
// A check with Fault set (keepalived's weight 0) lowers no priority: while
// it is down Tracker.Fault reports that the instance must be in FAULT,
// naming the check, and FaultChanges delivers each flip. Like every check
// it starts down, so an instance with a fault check starts in FAULT until
// that check's first Rise successes.
//
// # Transitions
//
// CheckStatus.Since and Cause say when a check last changed state and the
// error of the probe that took it down; WithTransitions hands every
// transition, with the penalty before and after, to the daemon, which
// logs it.
//
// The package never logs and registers no metrics; WithObserver hands every
// Result, with its Duration, to the daemon, which publishes them.
package health
