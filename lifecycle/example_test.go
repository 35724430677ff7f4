package lifecycle_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/ironkit/ironkit/lifecycle"
)

// A machine's whole life, driven by user actions and the region's internal
// events through the default table.
func Example() {
	admin := lifecycle.Options{Admin: true}
	region := lifecycle.Options{System: true}
	m := lifecycle.State{Status: lifecycle.New}
	for _, step := range []struct {
		a lifecycle.Action
		o lifecycle.Options
	}{
		{lifecycle.ActionCommission, admin},
		{lifecycle.EventCommissioned, region},
		{lifecycle.ActionAllocate, admin},
		{lifecycle.ActionDeploy, admin},
		{lifecycle.EventDeployed, region},
		{lifecycle.ActionRelease, lifecycle.Options{Erase: true}},
		{lifecycle.EventErased, region},
	} {
		var err error
		if m, err = lifecycle.Apply(m, step.a, step.o); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%-18s → %s\n", step.a, m.Status)
	}
	// Output:
	// commission         → commissioning
	// commissioning-done → ready
	// allocate           → allocated
	// deploy             → deploying
	// deployment-done    → deployed
	// release            → disk-erasing
	// erase-done         → ready
}

// Invalid actions name the status, the action and what is allowed instead.
func ExampleApply_invalid() {
	_, err := lifecycle.Apply(lifecycle.State{Status: lifecycle.Ready}, lifecycle.ActionDeploy, lifecycle.Options{})
	fmt.Println(errors.Is(err, lifecycle.ErrInvalidTransition))
	fmt.Println(err)
	// Output:
	// true
	// lifecycle: cannot deploy a machine in status Ready: invalid transition; allowed from Ready: allocate, mark-broken
}

// Previous-status memory: a machine broken while deployed returns to
// Deployed when fixed.
func ExampleApply_markFixed() {
	m := lifecycle.State{Status: lifecycle.Deployed}
	m, _ = lifecycle.Apply(m, lifecycle.ActionMarkBroken, lifecycle.Options{})
	fmt.Println(m.Status, "remembers", m.Previous)
	m, _ = lifecycle.Apply(m, lifecycle.ActionMarkFixed, lifecycle.Options{Admin: true})
	fmt.Println(m.Status)
	// Output:
	// broken remembers deployed
	// deployed
}

// A site-specific table: deploy straight from Ready.
func ExampleDefaultTable() {
	t := lifecycle.DefaultTable()
	t.Rules[lifecycle.Ready][lifecycle.ActionDeploy] = lifecycle.Rule{To: lifecycle.Deploying}
	if err := t.Validate(); err != nil {
		fmt.Println(err)
		return
	}
	m, err := t.Apply(lifecycle.State{Status: lifecycle.Ready}, lifecycle.ActionDeploy, lifecycle.Options{})
	fmt.Println(m.Status, err)
	// Output:
	// deploying <nil>
}

// The region's deadline checker: a heartbeat extends the deadline; once it
// passes, EventDeadlineExpired moves the machine to its Failed status.
func ExampleDeadlines() {
	d := lifecycle.DefaultDeadlines()
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	deadline, _ := d.Start(lifecycle.Commissioning, t0)
	deadline, _ = d.Extend(lifecycle.Commissioning, deadline, t0.Add(20*time.Minute))
	fmt.Println(deadline.Format(time.Kitchen))

	now := t0.Add(time.Hour)
	if d.Expired(lifecycle.Commissioning, deadline, now) {
		m, _ := lifecycle.Apply(lifecycle.State{Status: lifecycle.Commissioning},
			lifecycle.EventDeadlineExpired, lifecycle.Options{System: true})
		fmt.Println(m.Status)
	}
	// Output:
	// 12:50PM
	// failed-commissioning
}
