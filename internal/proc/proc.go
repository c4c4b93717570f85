package proc

import (
	"os"
	"syscall"
	"time"
)

// Stop sends p SIGTERM and waits until done is closed (the caller closes it
// once the process has been waited for); if it has not after grace, it
// sends SIGKILL and waits again. A process that has already ended is left
// alone.
func Stop(p *os.Process, done <-chan struct{}, grace time.Duration) {
	select {
	case <-done:
		return
	default:
	}
	_ = p.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		_ = p.Kill()
		<-done
	}
}
