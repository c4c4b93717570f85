package main

import "time"

// The figures the bench reads its own against: the Python original's
// (app-net 0.6.2 on 127.0.0.1, the anchor figures of the project's
// ANCHORS.md) and the project's targets.

// The Python original and raw NATS anchors.
const (
	pythonSeqP50        = 260 * time.Microsecond
	pythonSeqP99        = 494 * time.Microsecond
	pythonSeqRate       = 3700.0
	pythonConc8         = 1740.0                  // calls/s from 8 threads
	pythonIdleRSS       = 16.6                    // MB
	pythonHostRefresh5  = 3700 * time.Microsecond // peers(on_host=True, refresh=True), 5 peers
	anchorProcessReady  = 8100 * time.Microsecond // raw nats-server: process start to ready
	anchorEvents1Routed = 820000.0                // raw pub/sub, 1 subscriber, routed
	anchorEvents4Routed = 257000.0                // each of 4
)

// Targets of the call scenarios.
const (
	targetVsStandalone = 0.75 // appnet seq p50 / raw standalone seq p50, at most
	targetVsPythonP50  = 3.0  // Python seq p50 / appnet seq p50, at least
	targetVsRoutedConc = 1.0  // appnet concurrent calls/s / raw routed, at least
	targetVsPythonConc = 15.0 // appnet concurrent calls/s / Python's, at least
	targetRSS          = 20.0 // MB, at most
)

// Targets of the other scenarios.
const (
	targetMesh        = 2 * time.Second       // 10 peers started at one instant: one cluster within
	targetJoin        = 50 * time.Millisecond // fork to a joining peer serving and meshed
	targetPeerStart   = 100 * time.Millisecond
	targetHostRefresh = 2 * time.Millisecond
	targetCached      = 100 * time.Microsecond
	targetNetFirst    = time.Second
	targetNetRefresh  = 20 * time.Millisecond
	// Events: appnet against raw nats.go publishing on appnet's very
	// subject without headers (the same wire), to one and to four
	// subscribers, and the aim against raw plain pub/sub.
	targetEventsVsWire1 = 0.85
	targetEventsVsWire4 = 0.8
	aimEventsVsRaw      = 0.6
)
