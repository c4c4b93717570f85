package discovery

// ClaimHub is claimHub, for the tests of package discovery_test.
var ClaimHub = claimHub
