package auth_test

import (
	"fmt"

	"github.com/ironkit/ironkit/internal/region/auth"
)

func ExampleDecide() {
	machine := auth.Principal{Kind: auth.Machine, SystemID: "abc123"}
	fmt.Println(auth.Decide(auth.MachineSelf, machine, "abc123").HTTPStatus())
	fmt.Println(auth.Decide(auth.MachineSelf, machine, "def456").HTTPStatus())
	fmt.Println(auth.Decide(auth.AdminOnly, auth.Principal{Kind: auth.Anonymous}, "").HTTPStatus())
	// Output:
	// 200
	// 403
	// 401
}
