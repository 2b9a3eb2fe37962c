package store

import (
	"errors"
	"testing"
)

// TestNextExhaustive checks every (state, event) pair against the table of
// the design: what may happen to a refund in each state.
func TestNextExhaustive(t *testing.T) {
	events := []Event{EvSend, EvNotSent, EvSucceeded, EvFailed, EvPending, EvUnknown, EvBlocked}
	const x = State("") // not allowed
	want := map[State][]State{
		//            send        not-sent  succeeded  failed  pending  unknown  blocked
		Planned:    {Submitting, x, x, x, x, x, x},
		Submitting: {x, Planned, Succeeded, Failed, Pending, Unknown, Blocked},
		Pending:    {x, x, Succeeded, Failed, Pending, Unknown, Pending},
		Unknown:    {Submitting, x, Succeeded, Failed, Pending, Unknown, Unknown},
		Blocked:    {Submitting, x, Succeeded, Failed, Pending, Unknown, Blocked},
		Succeeded:  {x, x, x, x, x, x, x},
		Failed:     {x, x, x, x, x, x, x},
	}
	if len(want) != len(States) {
		t.Fatalf("table covers %d states, States has %d", len(want), len(States))
	}
	for _, from := range States {
		for i, ev := range events {
			got, err := Next(from, ev)
			if w := want[from][i]; w == x {
				if !errors.Is(err, ErrBadTransition) || got != from {
					t.Errorf("%s --%s--> %s, %v: want refused", from, ev, got, err)
				}
			} else if err != nil || got != w {
				t.Errorf("%s --%s--> %s, %v: want %s", from, ev, got, err, w)
			}
		}
	}
	// Final states are final; a doubtful one is never sent without passing
	// through a lookup's answer (unknown) first.
	for _, s := range States {
		if s.Final() && len(transitions[s]) != 0 {
			t.Errorf("%s is final but has transitions", s)
		}
	}
	if _, err := Next(Submitting, EvSend); err == nil {
		t.Error("a submitting refund can be sent again without a lookup")
	}
	if _, err := Next(Pending, EvSend); err == nil {
		t.Error("a pending refund can be sent again")
	}
}
