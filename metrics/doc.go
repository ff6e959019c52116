// Package metrics serves vipd's metrics, in the Prometheus text exposition format
// 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/), and its
// liveness endpoint, both read from the same status document that vipctl prints.
package metrics
