package node

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// StreamPath is the node API route that joins a caller to a unix socket a
// container exposes in its run directory (the launcher's serial console and
// VNC). The caller upgrades the HTTP connection (Upgrade: StreamProtocol)
// and then speaks raw bytes. Only kube-apiserver's kubelet client and the
// platform (the same certificate) pass requireClient, so the socket is
// reachable only through an authorised Kubernetes request.
const StreamPath = "/dvp/stream/{namespace}/{pod}/{container}/{socket}"

// StreamProtocol is the Upgrade token of a stream request.
const StreamProtocol = "dvp-stream"

// streamSockets are the socket names a caller may ask for.
var streamSockets = map[string]bool{"serial": true, "vnc": true}

func (p *Provider) serveStream(w http.ResponseWriter, r *http.Request) {
	ns, name, cname, sock := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container"), r.PathValue("socket")
	if !streamSockets[sock] {
		http.Error(w, fmt.Sprintf("unknown stream %q", sock), http.StatusNotFound)
		return
	}
	p.mu.Lock()
	e, ok := p.pods[key(ns, name)]
	p.mu.Unlock()
	if !ok || e.final != nil {
		http.Error(w, "pod not running on this node", http.StatusNotFound)
		return
	}
	conn, err := dialLong(filepath.Join(containerDir(e.dir, cname), runDirName), sock+".sock")
	if err != nil {
		http.Error(w, fmt.Sprintf("%s socket of %s/%s is not available: %v", sock, ns, name, err), http.StatusServiceUnavailable)
		return
	}
	defer conn.Close()
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "connection cannot be upgraded", http.StatusInternalServerError)
		return
	}
	client, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	defer client.Close()
	if _, err := io.WriteString(client, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: "+StreamProtocol+"\r\n\r\n"); err != nil {
		return
	}
	splice(conn, client, buf)
}

// splice copies both ways until either side closes, then closes both.
func splice(sock net.Conn, client net.Conn, buf *bufio.ReadWriter) {
	var once sync.Once
	done := make(chan struct{})
	stop := func() { once.Do(func() { close(done) }) }
	go func() {
		// Bytes the HTTP server had already buffered belong to the stream.
		if n := buf.Reader.Buffered(); n > 0 {
			b, _ := buf.Reader.Peek(n)
			if _, err := sock.Write(b); err != nil {
				stop()
				return
			}
		}
		_, _ = io.Copy(sock, client)
		stop()
	}()
	go func() {
		_, _ = io.Copy(client, sock)
		stop()
	}()
	<-done
}

// dialLong connects to a unix socket whose full path may exceed the 108
// bytes sockaddr_un allows: it names the directory through /proc/self/fd.
func dialLong(dir, name string) (net.Conn, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	path := fmt.Sprintf("/proc/self/fd/%d/%s", fd, name)
	if _, err := os.Lstat(path); err != nil {
		return nil, err
	}
	return net.Dial("unix", path)
}
