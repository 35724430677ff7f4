package lifecycle

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
)

// expected is the transition table written out independently of
// defaultRows: for each status, "action>target" for every action valid there
// (for an unlocked machine with no remembered status, no erase, called by
// the system). Unlock is valid everywhere but only on a locked machine, so it
// is checked separately.
var expected = map[Status]string{
	New:                      "commission>commissioning mark-broken>broken rescue-mode>entering-rescue-mode retire>retired missing>missing",
	Commissioning:            "abort>new mark-broken>broken commissioning-done>ready failed>failed-commissioning deadline-expired>failed-commissioning missing>missing",
	FailedCommissioning:      "commission>commissioning test>testing mark-broken>broken rescue-mode>entering-rescue-mode retire>retired missing>missing",
	Missing:                  "commission>commissioning mark-broken>broken retire>retired found>new",
	Ready:                    "commission>commissioning test>testing allocate>allocated mark-broken>broken rescue-mode>entering-rescue-mode retire>retired reserved>reserved missing>missing",
	Reserved:                 "allocate>allocated release>releasing test>testing mark-broken>broken rescue-mode>entering-rescue-mode retire>retired missing>missing",
	Allocated:                "deploy>deploying release>releasing test>testing mark-broken>broken rescue-mode>entering-rescue-mode missing>missing",
	Deploying:                "abort>allocated release>releasing mark-broken>broken deployment-done>deployed failed>failed-deployment deadline-expired>failed-deployment missing>missing",
	Deployed:                 "release>releasing test>testing mark-broken>broken rescue-mode>entering-rescue-mode lock>deployed missing>missing",
	FailedDeployment:         "deploy>deploying release>releasing test>testing mark-broken>broken rescue-mode>entering-rescue-mode missing>missing",
	Releasing:                "mark-broken>broken release-done>ready failed>failed-releasing deadline-expired>failed-releasing missing>missing",
	FailedReleasing:          "release>releasing test>testing mark-broken>broken missing>missing",
	DiskErasing:              "abort>failed-disk-erasing mark-broken>broken erase-done>ready failed>failed-disk-erasing deadline-expired>failed-disk-erasing missing>missing",
	FailedDiskErasing:        "release>releasing test>testing mark-broken>broken rescue-mode>entering-rescue-mode missing>missing",
	EnteringRescueMode:       "exit-rescue-mode>exiting-rescue-mode mark-broken>broken rescue-entered>rescue-mode failed>failed-entering-rescue-mode deadline-expired>failed-entering-rescue-mode",
	RescueMode:               "exit-rescue-mode>exiting-rescue-mode mark-broken>broken",
	FailedEnteringRescueMode: "rescue-mode>entering-rescue-mode exit-rescue-mode>exiting-rescue-mode mark-broken>broken",
	ExitingRescueMode:        "mark-broken>broken rescue-exited>ready failed>failed-exiting-rescue-mode deadline-expired>failed-exiting-rescue-mode",
	FailedExitingRescueMode:  "exit-rescue-mode>exiting-rescue-mode mark-broken>broken",
	Testing:                  "abort>ready mark-broken>broken testing-done>ready failed>failed-testing deadline-expired>failed-testing missing>missing",
	FailedTesting:            "test>testing override-failed-testing>ready commission>commissioning mark-broken>broken rescue-mode>entering-rescue-mode retire>retired missing>missing",
	Broken:                   "mark-fixed>ready commission>commissioning test>testing release>releasing rescue-mode>entering-rescue-mode retire>retired",
	Retired:                  "commission>commissioning test>testing mark-broken>broken rescue-mode>entering-rescue-mode",
}

func parseExpected(t *testing.T, s Status) map[Action]Status {
	t.Helper()
	out := map[Action]Status{}
	for _, f := range strings.Fields(expected[s]) {
		a, target, ok := strings.Cut(f, ">")
		if !ok {
			t.Fatalf("bad expectation %q for %s", f, s)
		}
		out[Action(a)] = Status(target)
	}
	return out
}

func TestEveryStatusActionPair(t *testing.T) {
	if len(expected) != len(Statuses()) {
		t.Fatalf("expected covers %d statuses, there are %d", len(expected), len(Statuses()))
	}
	system := Options{System: true}
	for _, s := range Statuses() {
		want := parseExpected(t, s)
		var wantUser []Action
		for a := range want {
			if !DefaultTable().Actions[a].Internal {
				wantUser = append(wantUser, a)
			}
		}
		slices.Sort(wantUser)
		if got := Allowed(State{Status: s}, Options{Admin: true}); !slices.Equal(got, wantUser) {
			t.Errorf("Allowed(%s) = %v, want %v", s, got, wantUser)
		}
		for _, a := range Actions() {
			got, err := Apply(State{Status: s}, a, system)
			target, valid := want[a]
			switch {
			case a == ActionUnlock:
				if !errors.Is(err, ErrInvalidTransition) {
					t.Errorf("%s/unlock on an unlocked machine: err = %v, want ErrInvalidTransition", s, err)
				}
				locked, err := Apply(State{Status: s, Locked: true}, a, system)
				if err != nil || locked != (State{Status: s}) {
					t.Errorf("%s/unlock on a locked machine = %+v, %v; want unlocked %s", s, locked, err, s)
				}
			case valid:
				if err != nil {
					t.Errorf("%s/%s: unexpected error %v", s, a, err)
				} else if got.Status != target {
					t.Errorf("%s/%s → %s, want %s", s, a, got.Status, target)
				}
			default:
				var te *TransitionError
				if !errors.Is(err, ErrInvalidTransition) || !errors.As(err, &te) {
					t.Errorf("%s/%s: err = %v, want a *TransitionError wrapping ErrInvalidTransition", s, a, err)
					continue
				}
				if te.Status != s || te.Action != a || !slices.IsSorted(te.Allowed) {
					t.Errorf("%s/%s: error names %s/%s allowed %v", s, a, te.Status, te.Action, te.Allowed)
				}
				if got != (State{Status: s}) {
					t.Errorf("%s/%s: refused action changed the state to %+v", s, a, got)
				}
			}
		}
	}
}

func TestReleaseWithErase(t *testing.T) {
	for _, s := range []Status{Reserved, Allocated, Deploying, Deployed, FailedDeployment, FailedReleasing, FailedDiskErasing, Broken} {
		got, err := Apply(State{Status: s}, ActionRelease, Options{Erase: true})
		if err != nil || got.Status != DiskErasing {
			t.Errorf("release with erase from %s = %v, %v; want disk-erasing", s, got.Status, err)
		}
	}
	got, err := Apply(State{Status: Deployed}, ActionRelease, Options{})
	if err != nil || got.Status != Releasing {
		t.Errorf("release from deployed = %v, %v; want releasing", got.Status, err)
	}
}

// TestReachability walks every state reachable from a New machine under
// every action and option combination and checks that each is defined, that
// every status is reachable, and that Ready is reachable from each (no dead
// end).
func TestReachability(t *testing.T) {
	tab := DefaultTable()
	var optionSets []Options
	for _, erase := range []bool{false, true} {
		for _, admin := range []bool{false, true} {
			for _, system := range []bool{false, true} {
				optionSets = append(optionSets, Options{Erase: erase, Admin: admin, System: system})
			}
		}
	}
	start := State{Status: New}
	edges := map[State][]State{}
	seen := map[State]bool{start: true}
	queue := []State{start}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for _, a := range Actions() {
			for _, o := range optionSets {
				next, err := tab.Apply(s, a, o)
				if err != nil {
					if next != s {
						t.Errorf("%+v/%s: refused action changed the state to %+v", s, a, next)
					}
					continue
				}
				if !next.Status.Valid() || (next.Previous != "" && !next.Previous.Valid()) {
					t.Fatalf("%+v/%s with %+v reaches undefined state %+v", s, a, o, next)
				}
				edges[s] = append(edges[s], next)
				if !seen[next] {
					seen[next] = true
					queue = append(queue, next)
				}
			}
		}
	}
	reached := map[Status]bool{}
	for s := range seen {
		reached[s.Status] = true
	}
	for _, s := range Statuses() {
		if !reached[s] {
			t.Errorf("status %s is unreachable from new", s)
		}
	}
	// Reverse walk from every Ready state.
	reverse := map[State][]State{}
	for from, tos := range edges {
		for _, to := range tos {
			reverse[to] = append(reverse[to], from)
		}
	}
	canReady := map[State]bool{}
	var back []State
	for s := range seen {
		if s.Status == Ready {
			canReady[s] = true
			back = append(back, s)
		}
	}
	for len(back) > 0 {
		s := back[0]
		back = back[1:]
		for _, p := range reverse[s] {
			if !canReady[p] {
				canReady[p] = true
				back = append(back, p)
			}
		}
	}
	for s := range seen {
		if !canReady[s] {
			t.Errorf("dead end: no way back to ready from %+v", s)
		}
	}
	t.Logf("%d reachable states", len(seen))
}

func TestPreviousStatusMemory(t *testing.T) {
	admin := Options{Admin: true}
	system := Options{System: true}
	tests := []struct {
		name  string
		start Status
		steps []Action
		want  State
	}{
		{"mark-fixed returns a deployed machine to deployed", Deployed,
			[]Action{ActionMarkBroken, ActionMarkFixed}, State{Status: Deployed}},
		{"mark-fixed returns a ready machine to ready", Ready,
			[]Action{ActionMarkBroken, ActionMarkFixed}, State{Status: Ready}},
		{"mark-fixed returns a failed machine to ready", FailedDeployment,
			[]Action{ActionMarkBroken, ActionMarkFixed}, State{Status: Ready}},
		{"abort of testing returns to allocated", Allocated,
			[]Action{ActionTest, ActionAbort}, State{Status: Allocated}},
		{"abort of testing returns to broken", Broken,
			[]Action{ActionTest, ActionAbort}, State{Status: Broken}},
		{"passed tests return to deployed", Deployed,
			[]Action{ActionTest, EventTested}, State{Status: Deployed}},
		{"passed tests from broken end in ready", Broken,
			[]Action{ActionTest, EventTested}, State{Status: Ready}},
		{"override of failed testing returns to deployed", Deployed,
			[]Action{ActionTest, EventFailed, ActionOverrideFailedTesting}, State{Status: Deployed}},
		{"retest keeps the remembered status", Deployed,
			[]Action{ActionTest, EventDeadlineExpired, ActionTest, EventTested}, State{Status: Deployed}},
		{"exit rescue returns to deployed", Deployed,
			[]Action{ActionRescueMode, EventRescueEntered, ActionExitRescueMode, EventRescueExited}, State{Status: Deployed}},
		{"exit rescue after a failed entry returns to allocated", Allocated,
			[]Action{ActionRescueMode, EventFailed, ActionRescueMode, EventRescueEntered, ActionExitRescueMode, EventRescueExited}, State{Status: Allocated}},
		{"exit rescue after a failed exit returns to failed commissioning", FailedCommissioning,
			[]Action{ActionRescueMode, EventRescueEntered, ActionExitRescueMode, EventDeadlineExpired, ActionExitRescueMode, EventRescueExited}, State{Status: FailedCommissioning}},
		{"abort of commissioning returns to ready", Ready,
			[]Action{ActionCommission, ActionAbort}, State{Status: Ready}},
		{"abort of commissioning returns to new", New,
			[]Action{ActionCommission, ActionAbort}, State{Status: New}},
		{"a found machine returns to where it was", Deployed,
			[]Action{EventMissing, EventFound}, State{Status: Deployed}},
		{"remembered status is kept while in progress", Deployed,
			[]Action{ActionRescueMode, EventRescueEntered}, State{Status: RescueMode, Previous: Deployed}},
		{"full life", New,
			[]Action{ActionCommission, EventCommissioned, ActionAllocate, ActionDeploy, EventDeployed, ActionRelease, EventReleased},
			State{Status: Ready, Previous: New}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := State{Status: tt.start}
			for _, a := range tt.steps {
				o := admin
				if DefaultTable().Actions[a].Internal {
					o = system
				}
				var err error
				if s, err = Apply(s, a, o); err != nil {
					t.Fatalf("%s: %v", a, err)
				}
			}
			if s != tt.want {
				t.Errorf("got %+v, want %+v", s, tt.want)
			}
		})
	}
}

func TestLock(t *testing.T) {
	locked, err := Apply(State{Status: Deployed}, ActionLock, Options{})
	if err != nil || !locked.Locked || locked.Status != Deployed {
		t.Fatalf("lock deployed = %+v, %v", locked, err)
	}
	for _, a := range []Action{ActionRelease, ActionMarkBroken, ActionTest, ActionRescueMode, ActionLock} {
		got, err := Apply(locked, a, Options{Admin: true})
		if !errors.Is(err, ErrLocked) || got != locked {
			t.Errorf("%s on a locked machine = %+v, %v; want ErrLocked and no change", a, got, err)
		}
	}
	if got := Allowed(locked, Options{Admin: true}); !slices.Equal(got, []Action{ActionUnlock}) {
		t.Errorf("Allowed(locked) = %v, want [unlock]", got)
	}
	// Internal events still move a locked machine (it went missing).
	missing, err := Apply(locked, EventMissing, Options{System: true})
	if err != nil || !missing.Locked {
		t.Errorf("missing on a locked machine = %+v, %v; want still locked", missing, err)
	}
	unlocked, err := Apply(locked, ActionUnlock, Options{})
	if err != nil || unlocked != (State{Status: Deployed}) {
		t.Errorf("unlock = %+v, %v", unlocked, err)
	}
	for _, s := range Statuses() {
		if s == Deployed {
			continue
		}
		if _, err := Apply(State{Status: s}, ActionLock, Options{}); !errors.Is(err, ErrInvalidTransition) {
			t.Errorf("lock %s: err = %v, want ErrInvalidTransition (only deployed machines lock)", s, err)
		}
	}
}

func TestPermissions(t *testing.T) {
	tab := DefaultTable()
	admins := map[Action]bool{}
	for a, info := range tab.Actions {
		if info.Admin {
			admins[a] = true
		}
	}
	wantAdmin := []Action{ActionAbort, ActionCommission, ActionExitRescueMode, ActionMarkFixed,
		ActionOverrideFailedTesting, ActionRescueMode, ActionRetire, ActionTest}
	if got := slices.Sorted(maps.Keys(admins)); !slices.Equal(got, wantAdmin) {
		t.Errorf("admin actions = %v, want %v", got, wantAdmin)
	}
	_, err := Apply(State{Status: Ready}, ActionCommission, Options{})
	var te *TransitionError
	if !errors.Is(err, ErrAdminRequired) || !errors.As(err, &te) {
		t.Fatalf("commission by a user: err = %v, want ErrAdminRequired", err)
	}
	if slices.Contains(te.Allowed, ActionCommission) || !slices.Contains(te.Allowed, ActionAllocate) {
		t.Errorf("a user is told they may %v", te.Allowed)
	}
	if _, err := Apply(State{Status: Ready}, ActionCommission, Options{System: true}); err != nil {
		t.Errorf("commission by the system: %v", err)
	}
	// Internal events are not for users, not even admins.
	_, err = Apply(State{Status: Deploying}, EventDeployed, Options{Admin: true})
	if !errors.Is(err, ErrInvalidTransition) {
		t.Errorf("deployment-done by an admin: err = %v, want ErrInvalidTransition", err)
	}
	if _, err := Apply(State{Status: Deploying}, EventDeployed, Options{System: true}); err != nil {
		t.Errorf("deployment-done by the system: %v", err)
	}
}

func TestTransitionErrorMessage(t *testing.T) {
	_, err := Apply(State{Status: Commissioning}, ActionDeploy, Options{Admin: true})
	want := "lifecycle: cannot deploy a machine in status Commissioning: invalid transition; allowed from Commissioning: abort, mark-broken"
	if err == nil || err.Error() != want {
		t.Errorf("error = %q\nwant    %q", err, want)
	}
	_, err = Apply(State{Status: Deployed, Locked: true}, ActionRelease, Options{})
	want = "lifecycle: cannot release a machine in status Deployed (locked): the machine is locked; unlock it first; allowed from Deployed: unlock"
	if err == nil || err.Error() != want {
		t.Errorf("error = %q\nwant    %q", err, want)
	}
	_, err = Apply(State{Status: Ready}, ActionRetire, Options{})
	want = "lifecycle: cannot retire a machine in status Ready: retire needs an administrator; allowed from Ready: allocate, mark-broken"
	if err == nil || err.Error() != want {
		t.Errorf("error = %q\nwant    %q", err, want)
	}
	_, err = Apply(State{Status: "bogus"}, ActionDeploy, Options{})
	if !errors.Is(err, ErrInvalidTransition) || !strings.Contains(err.Error(), "no action is allowed from bogus") {
		t.Errorf("undefined status: err = %v", err)
	}
}

func TestFailureMapping(t *testing.T) {
	want := map[Status]Status{
		Commissioning:      FailedCommissioning,
		Deploying:          FailedDeployment,
		Releasing:          FailedReleasing,
		DiskErasing:        FailedDiskErasing,
		EnteringRescueMode: FailedEnteringRescueMode,
		ExitingRescueMode:  FailedExitingRescueMode,
		Testing:            FailedTesting,
	}
	for _, s := range Statuses() {
		failed, ok := FailedStatus(s)
		if wantFailed, wantOK := want[s]; ok != wantOK || failed != wantFailed {
			t.Errorf("FailedStatus(%s) = %s, %v; want %s, %v", s, failed, ok, wantFailed, wantOK)
		}
		if IsInProgress(s) != ok {
			t.Errorf("IsInProgress(%s) = %v", s, IsInProgress(s))
		}
		isFailed := slices.Contains(slices.Collect(maps.Values(want)), s)
		if IsFailed(s) != isFailed {
			t.Errorf("IsFailed(%s) = %v, want %v", s, IsFailed(s), isFailed)
		}
		for _, ev := range []Action{EventFailed, EventDeadlineExpired} {
			got, err := Apply(State{Status: s, Previous: Deployed}, ev, Options{System: true})
			if ok && (err != nil || got != (State{Status: failed, Previous: Deployed})) {
				t.Errorf("%s/%s = %+v, %v; want %s keeping previous", s, ev, got, err, failed)
			}
			if !ok && !errors.Is(err, ErrInvalidTransition) {
				t.Errorf("%s/%s: err = %v; want ErrInvalidTransition", s, ev, err)
			}
		}
	}
}

func TestTableOverride(t *testing.T) {
	tab := DefaultTable()
	if err := tab.Validate(); err != nil {
		t.Fatalf("default table invalid: %v", err)
	}
	custom := tab.Clone()
	// A site that lets users deploy straight from Ready and lets anyone retire.
	custom.Rules[Ready][ActionDeploy] = Rule{To: Deploying}
	info := custom.Actions[ActionRetire]
	info.Admin = false
	custom.Actions[ActionRetire] = info
	if err := custom.Validate(); err != nil {
		t.Fatal(err)
	}
	if s, err := custom.Apply(State{Status: Ready}, ActionDeploy, Options{}); err != nil || s.Status != Deploying {
		t.Errorf("custom deploy from ready = %v, %v", s, err)
	}
	if _, err := custom.Apply(State{Status: Ready}, ActionRetire, Options{}); err != nil {
		t.Errorf("custom retire by a user: %v", err)
	}
	if _, err := tab.Apply(State{Status: Ready}, ActionDeploy, Options{}); !errors.Is(err, ErrInvalidTransition) {
		t.Errorf("modifying a clone changed the original: %v", err)
	}
	if _, err := Apply(State{Status: Ready}, ActionRetire, Options{}); !errors.Is(err, ErrAdminRequired) {
		t.Errorf("modifying a copy changed the package default: %v", err)
	}

	broken := tab.Clone()
	broken.Rules[Ready][ActionDeploy] = Rule{To: "deployingg"}
	broken.Rules[Ready]["dance"] = Rule{To: Ready}
	broken.Rules["limbo"] = map[Action]Rule{}
	broken.Failure[Deployed] = ""
	err := broken.Validate()
	for _, want := range []string{`target "deployingg"`, `action "dance"`, `undefined status "limbo"`, `failure mapping "deployed"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v; want it to mention %s", err, want)
		}
	}
}

func TestParse(t *testing.T) {
	for _, s := range Statuses() {
		if got, err := ParseStatus(s.String()); err != nil || got != s {
			t.Errorf("ParseStatus(%q) = %v, %v", s, got, err)
		}
		if s.Title() == string(s) {
			t.Errorf("%s has no title", s)
		}
	}
	for _, a := range Actions() {
		if got, err := ParseAction(a.String()); err != nil || got != a {
			t.Errorf("ParseAction(%q) = %v, %v", a, got, err)
		}
	}
	if _, err := ParseStatus("Deployed"); err == nil {
		t.Error("ParseStatus accepted a title")
	}
	if _, err := ParseAction("explode"); err == nil {
		t.Error("ParseAction accepted an unknown action")
	}
	if len(Statuses()) != 23 {
		t.Errorf("%d statuses, MAAS has 23", len(Statuses()))
	}
}

// TestDefaultTableIsFresh: modifying one DefaultTable, even inside a rule's
// RestoreOnly slice, never reaches another.
func TestDefaultTableIsFresh(t *testing.T) {
	a := DefaultTable()
	a.Rules[Testing][EventTested].RestoreOnly[0] = Broken
	a.Actions[ActionDeploy] = ActionInfo{Admin: true}
	a.Failure[Deployed] = Broken
	b := DefaultTable()
	if b.Rules[Testing][EventTested].RestoreOnly[0] != Ready || b.Actions[ActionDeploy].Admin || b.IsInProgress(Deployed) {
		t.Error("a modified DefaultTable leaked into a fresh one")
	}
	c := b.Clone()
	c.Rules[Broken][ActionMarkFixed].RestoreOnly[0] = Ready
	if b.Rules[Broken][ActionMarkFixed].RestoreOnly[0] != Deployed {
		t.Error("modifying a clone's RestoreOnly changed the original")
	}
}
