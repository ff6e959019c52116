// Command kubelet is the upstream kubelet main (k8s.io/kubernetes/cmd/kubelet),
// copied because a main package cannot be imported. It exists so that
// build.sh can build a kubelet from the module proxy for the integration tests.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric
	"k8s.io/kubernetes/cmd/kubelet/app"
)

func main() {
	os.Exit(cli.Run(app.NewKubeletCommand()))
}
