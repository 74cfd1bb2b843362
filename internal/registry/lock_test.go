package registry

import (
	"context"
	"testing"
	"time"
)

func TestGate(t *testing.T) {
	ctx := context.Background()
	g := newGate()
	if err := g.rlock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := g.rlock(ctx); err != nil { // readers share
		t.Fatal(err)
	}

	locked := make(chan error, 1)
	go func() { locked <- g.lock(ctx) }()
	waitBlocked(t, locked, "writer with readers in")

	// A waiting writer bars new readers.
	read := make(chan error, 1)
	go func() { read <- g.rlock(ctx) }()
	waitBlocked(t, read, "reader while a writer waits")
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := g.rlock(short); err == nil {
		t.Fatal("rlock ignored its context")
	}

	g.runlock()
	g.runlock()
	if err := <-locked; err != nil {
		t.Fatal(err)
	}
	waitBlocked(t, read, "reader while the writer holds")
	g.unlock()
	if err := <-read; err != nil {
		t.Fatal(err)
	}
	g.runlock()
}

func waitBlocked(t *testing.T, ch <-chan error, what string) {
	t.Helper()
	select {
	case err := <-ch:
		t.Fatalf("%s did not wait (err %v)", what, err)
	case <-time.After(50 * time.Millisecond):
	}
}
