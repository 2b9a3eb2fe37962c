package store

import "fmt"

// Event is what happens to a refund; Next says which state it leads to.
type Event string

const (
	// EvSend: a refund request is about to leave (committed before it does).
	EvSend Event = "send"
	// EvNotSent: a request marked as leaving never left (the run stopped
	// first, or the provider certainly did not receive it).
	EvNotSent Event = "not-sent"
	// EvSucceeded, EvFailed, EvPending, EvUnknown: what a provider answered
	// (to a request or a lookup), or what the runner concluded.
	EvSucceeded Event = "succeeded"
	EvFailed    Event = "failed"
	EvPending   Event = "pending"
	EvUnknown   Event = "unknown"
	// EvBlocked: the provider refused our credentials or configuration.
	EvBlocked Event = "blocked"
)

// Next is the refund state machine, as data: the state event leads to from
// state from, or an error if the event cannot happen there. The store
// applies every transition as a compare-and-set on (state, version), so two
// processes can never both move a refund to submitting.
//
//	planned ──send──▶ submitting ──▶ succeeded | failed | pending | unknown | blocked
//	submitting ──not-sent──▶ planned      (marked, never left)
//	unknown | pending | submitting ──lookup answers──▶ any outcome
//	unknown | blocked ──send──▶ submitting (after a lookup found no record, or nothing was ever sent)
//
// succeeded and failed are final: nothing leaves them.
func Next(from State, ev Event) (State, error) {
	to, ok := transitions[from][ev]
	if !ok {
		return from, fmt.Errorf("%w: %s on a %s refund", ErrBadTransition, ev, from)
	}
	return to, nil
}

var transitions = map[State]map[Event]State{
	Planned: {
		EvSend: Submitting,
		// A plan can also be settled without a send: a lookup of a key that
		// an earlier ledger (import) knew.
	},
	Submitting: {
		EvNotSent:   Planned,
		EvSucceeded: Succeeded, EvFailed: Failed, EvPending: Pending, EvUnknown: Unknown, EvBlocked: Blocked,
	},
	Pending: {
		EvSucceeded: Succeeded, EvFailed: Failed, EvPending: Pending, EvUnknown: Unknown, EvBlocked: Pending,
	},
	Unknown: {
		EvSend:      Submitting,
		EvSucceeded: Succeeded, EvFailed: Failed, EvPending: Pending, EvUnknown: Unknown, EvBlocked: Unknown,
	},
	Blocked: {
		EvSend:      Submitting,
		EvSucceeded: Succeeded, EvFailed: Failed, EvPending: Pending, EvUnknown: Unknown, EvBlocked: Blocked,
	},
	Succeeded: {},
	Failed:    {},
}

// eventOf is the event that leads to state s.
func eventOf(s State) Event {
	switch s {
	case Succeeded:
		return EvSucceeded
	case Failed:
		return EvFailed
	case Pending:
		return EvPending
	case Blocked:
		return EvBlocked
	case Submitting:
		return EvSend
	case Planned:
		return EvNotSent
	}
	return EvUnknown
}
