package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/vipd/vipd/control"
	"github.com/vipd/vipd/metrics"
)

// serveMetrics serves /metrics and /healthz on l until ctx ends.
func serveMetrics(ctx context.Context, l net.Listener, src control.Source, alive func() bool) error {
	srv := &http.Server{Handler: metrics.Handler(src, alive, control.Version), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("daemon: metrics: %w", err)
	}
	return nil
}
