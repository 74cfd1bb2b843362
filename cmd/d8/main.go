// Command d8 is the user CLI: `d8 v console|start|stop|restart ...`.
package main

import (
	"os"

	"github.com/virtlab/dvp/internal/cli"
)

func main() {
	if err := cli.NewRootCommand().Execute(); err != nil {
		os.Exit(1)
	}
}
