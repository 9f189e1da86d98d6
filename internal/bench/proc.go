package bench

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTick is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on every Linux that Go
// supports (the kernel exports it fixed, whatever CONFIG_HZ is).
const clockTick = 100

// statTimes reads utime, stime, cutime, cstime and the parent of pid from /proc/<pid>/stat.
func statTimes(pid int) (self, children time.Duration, ppid int, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, 0, err
	}
	// comm is in parentheses and may hold spaces: the fields start after its last ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	// f[0] is field 3 (state): ppid is field 4, utime..cstime fields 14..17.
	n := func(i int) int64 { v, _ := strconv.ParseInt(f[i-3], 10, 64); return v }
	tick := func(v int64) time.Duration { return time.Duration(v) * time.Second / clockTick }
	return tick(n(14) + n(15)), tick(n(16) + n(17)), int(n(4)), nil
}

// procCPU is the CPU time pid has used, its threads included.
func procCPU(pid int) (time.Duration, error) {
	self, _, _, err := statTimes(pid)
	return self, err
}

// clusterCPU is the CPU time of a Postgres cluster: the postmaster, every process it runs now
// (backends, checkpointer, WAL writer...) and the ones that have exited (counted in the
// postmaster's children times once reaped). Differences of it over an interval are the
// cluster's CPU in that interval.
func clusterCPU(postmaster int) (time.Duration, error) {
	self, children, _, err := statTimes(postmaster)
	if err != nil {
		return 0, err
	}
	total := self + children
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, _ := strconv.Atoi(filepath.Base(d))
		s, _, ppid, err := statTimes(pid)
		if err == nil && ppid == postmaster {
			total += s
		}
	}
	return total, nil
}

// peakRSS reads VmHWM, the resident set's high-water mark, of pid in bytes.
func peakRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}

// selfCPU is this process's CPU time so far (getrusage).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Machine describes where the figures were measured.
type Machine struct {
	CPU      string
	Cores    int
	MemoryGB float64
	Go       string
	Postgres string
	Kernel   string
	Date     time.Time
	// Load is /proc/loadavg's 1-minute average at the start and the end of the run: the
	// figures of a run on a busy machine are worse than the code's.
	LoadStart, LoadEnd string
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Fields(string(b))[0]
}

func machine() Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version(), Date: time.Now().UTC(), LoadStart: loadAvg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for l := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for l := range strings.SplitSeq(string(b), "\n") {
			if rest, ok := strings.CutPrefix(l, "MemTotal:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
				m.MemoryGB = kb / 1024 / 1024
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}
