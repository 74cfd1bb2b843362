package node

import (
	"context"
	"io"

	dto "github.com/prometheus/client_model/go"
	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// The kubelet API routes below exist because virtual-kubelet's pod handler
// wants them; the node runtime does not serve them yet. Each answers
// InvalidInput (HTTP 400) naming the operation, so kubectl prints why rather
// than a bare failure. The serial console and VNC do not go through here:
// they have their own route (stream.go).

// RunInContainer is `kubectl exec`. Exec into a launcher's container comes
// with issue 15 (`d8 v port-forward`, `ssh` and `scp`).
func (p *Provider) RunInContainer(context.Context, string, string, string, []string, api.AttachIO) error {
	return errdefs.InvalidInput("exec is not supported by the dvp node runtime")
}

// AttachToContainer is `kubectl attach`; attaching to a launcher's pod comes
// with issue 15, with exec.
func (p *Provider) AttachToContainer(context.Context, string, string, string, api.AttachIO) error {
	return errdefs.InvalidInput("attach is not supported by the dvp node runtime")
}

// PortForward is `kubectl port-forward`; issue 15 adds it, for `d8 v
// port-forward`, `ssh` and `scp`.
func (p *Provider) PortForward(context.Context, string, string, int32, io.ReadWriteCloser) error {
	return errdefs.InvalidInput("port-forward is not supported by the dvp node runtime")
}

// GetStatsSummary is the kubelet's /stats/summary; per-pod CPU and memory
// figures come with issue 14 (`kubectl top`).
func (p *Provider) GetStatsSummary(context.Context) (*statsv1alpha1.Summary, error) {
	return nil, errdefs.InvalidInput("stats summary is not supported by the dvp node runtime")
}

// GetMetricsResource is the kubelet's /metrics/resource, which
// metrics-server reads; issue 14 (`kubectl top`) adds it with
// GetStatsSummary.
func (p *Provider) GetMetricsResource(context.Context) ([]*dto.MetricFamily, error) {
	return nil, errdefs.InvalidInput("resource metrics are not supported by the dvp node runtime")
}
