package harness

import (
	"fmt"
	"net"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// Listen opens a TCP listener on the server's node address, inside its
// network namespace, so that pods of the platform (importers) reach services
// the test provides, like an HTTP server with disk images. Without a
// namespace it listens on loopback.
func (s *Server) Listen() net.Listener {
	s.t.Helper()
	if s.NetNS == "" {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			s.t.Fatal(err)
		}
		return l
	}
	l, err := listenInNetNS(s.NetNS, s.NodeIP+":0")
	if err != nil {
		s.t.Fatalf("listening in network namespace %s: %v", s.NetNS, err)
	}
	return l
}

// listenInNetNS creates the socket from a thread switched into the
// namespace; a socket keeps the namespace it was created in, so it can be
// served from any goroutine afterwards.
func listenInNetNS(ns, addr string) (net.Listener, error) {
	runtime.LockOSThread()
	// If switching back fails the thread is tainted: leaving it locked makes
	// the runtime end it when this goroutine exits.
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer orig.Close()
	target, err := os.Open("/var/run/netns/" + ns)
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("setns: %w", err)
	}
	l, lerr := net.Listen("tcp", addr)
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		return nil, fmt.Errorf("setns back: %w", err) // thread stays locked and dies
	}
	runtime.UnlockOSThread()
	return l, lerr
}
