package auth

// MachineView is what the per-machine rules need to know of a machine.
type MachineView struct {
	// Owner is the username of who allocated the machine; "" when unowned.
	Owner string
	// Ready reports whether the machine is in the Ready pool.
	Ready bool
}

// CanSee reports whether p may see the machine: admins see everything, users
// see the Ready pool and the machines they own, a machine token sees its own
// machine (the caller checks the id).
func CanSee(p Principal, m MachineView) bool {
	switch p.Kind {
	case Admin:
		return true
	case User:
		return m.Ready || (m.Owner != "" && m.Owner == p.Username)
	}
	return false
}

// CanAct reports whether p may act on the machine: admins on everything,
// users on machines they own and on Ready machines (to allocate them).
func CanAct(p Principal, m MachineView) bool { return CanSee(p, m) }
