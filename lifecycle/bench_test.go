package lifecycle

import "testing"

func BenchmarkApply(b *testing.B) {
	s := State{Status: Deployed}
	for b.Loop() {
		broken, err := Apply(s, ActionMarkBroken, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Apply(broken, ActionMarkFixed, Options{Admin: true}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkApplyInvalid(b *testing.B) {
	s := State{Status: Commissioning}
	for b.Loop() {
		if _, err := Apply(s, ActionDeploy, Options{}); err == nil {
			b.Fatal("deploy from commissioning succeeded")
		}
	}
}
