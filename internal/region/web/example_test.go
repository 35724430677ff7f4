package web_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/ironkit/ironkit/internal/region/web"
)

// The web page calls the API handler it is given; a visitor without a
// session is sent to the login page.
func ExampleNew() {
	apiHandler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	h, err := web.New(web.Config{API: apiHandler})
	if err != nil {
		panic(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/ui/machines?status=ready", nil))
	fmt.Println(rec.Code, rec.Header().Get("Location"))
	// Output:
	// 303 /ui/login?next=%2Fui%2Fmachines%3Fstatus%3Dready
}
