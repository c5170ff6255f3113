package kubernetes

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/zero-downtime-ml/zdml/modelserver/modelclient"
	"github.com/zero-downtime-ml/zdml/spec"
)

// routeConfirmations is how many fresh requests in a row through the
// stable Service must reach the new color before its route is verified.
const routeConfirmations = 3

// Addr is the stable Service's base URL through the API server's service
// proxy: what clients reach, as the reconciler can reach it without
// cluster networking.
func (r *Router) Addr() string {
	return r.k.client.CoreV1().RESTClient().Get().Namespace(r.k.namespace).Resource("services").
		Name(r.k.service + ":" + PortName).SubResource("proxy").URL().String()
}

// VerifyRoute is the route check of runtime kubernetes, as nginx's
// VerifyRoute is for the others: the stable Service's EndpointSlices list
// only color c's ready pods (Verify), then /healthz through the stable
// Service answers as c and version routeConfirmations times in a row,
// within DefaultVerifyTimeout. It changes nothing.
func (r *Router) VerifyRoute(ctx context.Context, c spec.Color, version string) error {
	if err := r.Verify(ctx, c); err != nil {
		return err
	}
	var why string
	ok := 0
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, r.verifyTimeout, true, func(ctx context.Context) (bool, error) {
		got, err := r.Route(ctx)
		switch {
		case err != nil:
			ok, why = 0, err.Error()
		case got.Color != c || got.Version != version:
			ok, why = 0, fmt.Sprintf("the stable service reaches %s %s, want %s %s", got.Color, got.Version, c, version)
		default:
			ok++
		}
		return ok >= routeConfirmations, nil
	})
	if err != nil {
		return fmt.Errorf("verify route to %s %s through service %s: %s", c, version, r.k.service, why)
	}
	return nil
}

// Route asks the stable Service once, through the API server's service
// proxy, which color and version answer /healthz.
func (r *Router) Route(ctx context.Context) (modelclient.Served, error) {
	ctx, cancel := r.k.call(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.Addr()+"/healthz", nil)
	if err != nil {
		return modelclient.Served{}, err
	}
	resp, err := r.k.HTTPClient().Do(req)
	if err != nil {
		return modelclient.Served{}, wrap("get /healthz through service "+r.k.service, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return modelclient.Served{}, fmt.Errorf("service %s /healthz: %s", r.k.service, resp.Status)
	}
	return modelclient.ServedBy(resp.Header), nil
}
