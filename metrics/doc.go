// Package metrics serves vipd's Prometheus metrics and its liveness endpoint, both
// read from the same status document that vipctl prints.
package metrics
