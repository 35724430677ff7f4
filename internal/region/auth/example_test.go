package auth_test

import (
	"fmt"

	"github.com/ironkit/ironkit/internal/region/auth"
)

func ExampleDecide() {
	machine := auth.Principal{Kind: auth.Machine, MachineID: 7}
	fmt.Println(auth.Decide(auth.MachineSelf, machine, 7).HTTPStatus())
	fmt.Println(auth.Decide(auth.MachineSelf, machine, 8).HTTPStatus())
	fmt.Println(auth.Decide(auth.AdminOnly, auth.Principal{Kind: auth.Anonymous}, 0).HTTPStatus())
	// Output:
	// 200
	// 403
	// 401
}
