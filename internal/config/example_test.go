package config_test

import (
	"fmt"

	"github.com/ironkit/ironkit/internal/config"
)

func ExampleLoad() {
	env := map[string]string{"IRONKIT_REGIOND_DATABASE": "postgres://maas@db.example/maas"}
	c, err := config.Load("", func(k string) string { return env[k] })
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.Listen, c.IsPostgres())
	// Output: :5240 true
}
