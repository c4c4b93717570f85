package discovery

// ClaimHub is claimHub, for the tests of package discovery_test.
var ClaimHub = claimHub

// AwaitFirst is awaitFirst, for the tests of package discovery_test.
var AwaitFirst = awaitFirst
