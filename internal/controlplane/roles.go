package controlplane

import (
	"context"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/virtlab/dvp/api/v1alpha2"
	"github.com/virtlab/dvp/internal/subresources"
)

// Kinds a namespace user works with, and the cluster-wide ones they read.
var (
	namespacedResources = []string{
		"virtualimages", "virtualdisks", "virtualmachines", "virtualmachineblockdeviceattachments",
		"virtualmachineipaddresses", "virtualmachineoperations",
	}
	clusterResources = []string{"clustervirtualimages", "virtualmachineclasses", "virtualmachineipaddressleases"}
	// userSubresources are the aggregated API's streams. vnc and
	// portforward are granted ahead of being served, so a binding made
	// today keeps working when they are.
	userSubresources = []string{"virtualmachines/console", "virtualmachines/vnc", "virtualmachines/portforward"}
)

// userRoles are ClusterRoles that aggregate into Kubernetes' built-in view,
// edit and admin, as KubeVirt's do: `kubectl create rolebinding ...
// --clusterrole=edit --user=alice -n vms` is then all a user needs. Nothing
// here grants more than the built-in role already implies for ordinary
// namespaced objects; cluster-wide kinds stay read-only.
func userRoles() []*rbacv1.ClusterRole {
	read := []string{"get", "list", "watch"}
	write := []string{"create", "update", "patch", "delete", "deletecollection"}
	group := v1alpha2.GroupVersion.Group
	role := func(name, aggregateTo string, rules ...rbacv1.PolicyRule) *rbacv1.ClusterRole {
		return &rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
				"rbac.authorization.k8s.io/aggregate-to-" + aggregateTo: "true",
			}},
			Rules: rules,
		}
	}
	all := append(append([]string{}, namespacedResources...), clusterResources...)
	return []*rbacv1.ClusterRole{
		role(group+":view", "view",
			rbacv1.PolicyRule{APIGroups: []string{group}, Resources: all, Verbs: read}),
		role(group+":edit", "edit",
			rbacv1.PolicyRule{APIGroups: []string{group}, Resources: namespacedResources, Verbs: write},
			rbacv1.PolicyRule{APIGroups: []string{subresources.Group}, Resources: userSubresources, Verbs: []string{"get"}}),
		// admin aggregates edit already; the classes a namespace admin
		// picks from are readable through view. Nothing more for now: the
		// label keeps a place for admin-only rights as they appear.
		role(group+":admin", "admin",
			rbacv1.PolicyRule{APIGroups: []string{group}, Resources: []string{"virtualmachineclasses"}, Verbs: read}),
	}
}

// ensureUserRoles installs userRoles (and updates them on upgrade).
func ensureUserRoles(ctx context.Context, cfg *rest.Config) error {
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return err
	}
	for _, r := range userRoles() {
		if err := upsert(ctx, c, r); err != nil {
			return fmt.Errorf("installing ClusterRole %s: %w", r.Name, err)
		}
	}
	return nil
}
