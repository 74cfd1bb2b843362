// Package manager runs the platform's controllers and admission webhooks on a
// controller-runtime manager. `dvp server` runs it in-process; `dvp controller`
// runs the same code against any cluster's API, which keeps the controllers
// honest: they talk to the cluster only through the API.
package manager
