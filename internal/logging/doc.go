// Package logging sets up the logs of the platform's long-running commands.
//
// `dvp server` runs kube-apiserver in its own process, and the apiserver
// logs hundreds of informational lines on every start, through klog's
// global functions. Those are the embedded component's business: by
// default only their errors reach the platform's log (minus a few that
// every healthy start prints), while the platform's own code, which logs
// through a contextual logger, says what it does at info. `--log-level
// debug` shows everything, as before; `--log-format json` writes one JSON
// object per line for log collectors.
package logging
