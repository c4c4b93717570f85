//go:build !linux

package main

import (
	"errors"
	"time"
)

// readRSS needs /proc; elsewhere the RSS is not measured.
func readRSS(int) (int64, error) {
	return 0, errors.New("RSS is read from /proc, which only Linux has")
}

// readUSS needs /proc; elsewhere the USS is not measured.
func readUSS(int) (int64, error) {
	return 0, errors.New("USS is read from /proc, which only Linux has")
}

// cpuTime needs /proc; elsewhere the CPU time is not measured.
func cpuTime(int) (time.Duration, error) {
	return 0, errors.New("CPU time is read from /proc, which only Linux has")
}

// busyCPU needs /proc; elsewhere the machine's load is not measured.
func busyCPU() (time.Duration, error) {
	return 0, errors.New("the machine's CPU time is read from /proc, which only Linux has")
}

func ownCPU() time.Duration { return 0 }

// routeConns needs /proc; elsewhere route connections are not counted.
func routeConns([]int, map[string]bool) ([]int, error) {
	return nil, errors.New("connections are read from /proc, which only Linux has")
}
