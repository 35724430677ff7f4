package power

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Instruction is what the manual driver asks an operator to do.
type Instruction struct {
	BMC  string // the machine or BMC the operator acts on
	Text string // e.g. "power on machine-12 and make it boot from the network (PXE)"
	Time time.Time
}

// ManualDriverInfo describes the "manual" driver: for machines without a
// usable BMC. It records what an operator must do; state is unknown.
func ManualDriverInfo() DriverInfo {
	return DriverInfo{
		Name:        "manual",
		Description: "no BMC: records the instruction for an operator; power state is unknown",
		Schema: Schema{
			{Name: "label", Type: TypeString, Description: "how the operator finds the machine (rack, slot, asset tag)"},
		},
		New: func(p Params, env Env) (Driver, error) {
			return &Manual{Label: p.String("label"), Recorder: env.Recorder, Logger: env.Logger}, nil
		},
	}
}

// Manual is the manual driver. Every action becomes an [Instruction] handed
// to Recorder (and logged); PowerState returns Unknown with ErrUnsupported so
// the engine does not wait for a transition nobody can see.
type Manual struct {
	Label    string
	Recorder func(Instruction)
	Logger   *slog.Logger
	Now      func() time.Time
}

var manualActionText = map[Action]string{
	ActionOn:    "power on",
	ActionOff:   "power off",
	ActionCycle: "power cycle (off, then on)",
	ActionSoft:  "shut down the operating system of",
}

var manualBootText = map[BootDevice]string{
	BootPXE:  "boot from the network (PXE)",
	BootDisk: "boot from its local disk",
}

func (m *Manual) record(text string) {
	now := time.Now
	if m.Now != nil {
		now = m.Now
	}
	in := Instruction{BMC: m.Label, Text: text, Time: now()}
	if m.Logger != nil {
		m.Logger.Info("manual power instruction", "machine", m.Label, "instruction", text)
	}
	if m.Recorder != nil {
		m.Recorder(in)
	}
}

// SetPower records the instruction.
func (m *Manual) SetPower(_ context.Context, a Action) error {
	if err := a.Validate(); err != nil {
		return err
	}
	m.record(fmt.Sprintf("%s %s", manualActionText[a], m.label()))
	return nil
}

// SetBootDevice records the instruction.
func (m *Manual) SetBootDevice(_ context.Context, b BootOverride) error {
	if err := b.Validate(); err != nil {
		return err
	}
	when := "on its next boot"
	if b.Persistent {
		when = "from now on"
	}
	mode := ""
	if b.Mode != BootModeAuto {
		mode = fmt.Sprintf(" in %s mode", map[BootMode]string{BootModeBIOS: "legacy BIOS", BootModeUEFI: "UEFI"}[b.Mode])
	}
	m.record(fmt.Sprintf("make %s %s%s %s", m.label(), manualBootText[b.Device], mode, when))
	return nil
}

// PowerState cannot know: it returns Unknown and ErrUnsupported.
func (m *Manual) PowerState(context.Context) (State, error) {
	return Unknown, fmt.Errorf("%w: the manual driver cannot read the power state of %s", ErrUnsupported, m.label())
}

// String names the machine for messages.
func (m *Manual) String() string { return "manual " + m.label() }

// Close does nothing.
func (m *Manual) Close() error { return nil }

func (m *Manual) label() string {
	if m.Label == "" {
		return "the machine"
	}
	return m.Label
}
