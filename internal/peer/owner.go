package peer

// SetOwner records what wraps the peer: package bus's Peer, which a
// handler finds from its context through the peer ([FromContext], then
// [Peer.Owner]). It is set once, before the peer serves its owner's
// users; the owner is of one type for every peer.
func (p *Peer) SetOwner(owner any) { p.owner.Store(owner) }

// Owner returns what [Peer.SetOwner] recorded, or nil.
func (p *Peer) Owner() any { return p.owner.Load() }
