package reconciler

import (
	"context"

	"github.com/zero-downtime-ml/zdml/spec"
)

// routeTo points public traffic at color c, which serves version, and
// checks that it arrives, through the router of the runtime that serves
// (nginx, or the stable Service of runtime kubernetes). With reload, a
// route that already looks right is applied again. Swap, rollback,
// self-heal and zdml swap all route through here.
func (r *Reconciler) routeTo(ctx context.Context, c spec.Color, version string, reload bool) (string, error) {
	return r.router().route(ctx, c, version, reload)
}
