package node

import "syscall"

type syscallSysinfo struct{ syscall.Sysinfo_t }

func sysinfo(s *syscallSysinfo) error { return syscall.Sysinfo(&s.Sysinfo_t) }

func (s *syscallSysinfo) total() int64 { return int64(s.Totalram) * int64(s.Unit) }
