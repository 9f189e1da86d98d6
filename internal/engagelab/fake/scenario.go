package fake

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/shopspring/decimal"
	"go.yaml.in/yaml/v3"
)

// Scenario is the script of a fake: the apps it knows and what happens to them.
type Scenario struct {
	Apps []App `yaml:"apps"`
}

// App is one EngageLab application. Amounts are decimal text; offsets count
// from the fake's start (or from AddApp for an app added later).
type App struct {
	Name      string `yaml:"name"`
	DevKey    string `yaml:"dev_key"`
	DevSecret string `yaml:"dev_secret"`
	Product   string `yaml:"product"`      // otp (default) or sms: which API's answer shape it gets
	Currency  string `yaml:"currency"`     // otp only; default USD
	Balance   string `yaml:"balance"`      // starting paid balance, default 0
	Gift      string `yaml:"gift_balance"` // starting gift, default 0
	// DrainPerMinute lowers the paid balance linearly, into overdraft if need be.
	DrainPerMinute string   `yaml:"drain_per_minute"`
	RechargeEvery  Duration `yaml:"recharge_every"` // 0: never
	RechargeAmount string   `yaml:"recharge_amount"`
	Steps          []Step   `yaml:"steps"` // in order of After
}

// Step is a scripted event at an offset from the start.
type Step struct {
	After   Duration `yaml:"after"`
	Balance *string  `yaml:"balance"` // sets the paid balance; draining continues from it
	Gift    *string  `yaml:"gift_balance"`
	// Drain changes drain_per_minute from now on (a spending spike, such as SMS pumping).
	Drain   *string  `yaml:"drain_per_minute"`
	Fail    *Failure `yaml:"fail"`    // answer with this failure from now on (see Failure.Times)
	Recover bool     `yaml:"recover"` // back to healthy: ends a failure, a revoke and a disable
	Revoke  bool     `yaml:"revoke"`  // from now on 401 code 2002
	Disable bool     `yaml:"disable"` // from now on 403 code 2002
}

// Failure is how the fake misbehaves for an app.
type Failure struct {
	Status  int    `yaml:"status"`  // 0: answer normally, after Delay
	Code    int    `yaml:"code"`    // with Message, the JSON error body
	Message string `yaml:"message"` //
	Body    string `yaml:"body"`    // raw body (e.g. an HTML page) instead of JSON
	Times   int    `yaml:"times"`   // 0: until recovered; N: only the next N requests
	// Delay holds the answer back in real time (not the fake's clock), so
	// clients can be made to time out.
	Delay Duration `yaml:"delay"`
}

// Duration is a time.Duration written as Go text in YAML ("90s", "5m").
type Duration time.Duration

// UnmarshalYAML parses Go duration text.
func (d *Duration) UnmarshalYAML(node *yaml.Node) error {
	v, err := time.ParseDuration(node.Value)
	if node.Kind != yaml.ScalarNode || err != nil {
		return fmt.Errorf("line %d: %q is not a duration such as 90s or 5m", node.Line, node.Value)
	}
	*d = Duration(v)
	return nil
}

//go:embed demo.yaml
var demoYAML []byte

// Demo is the built-in demo scenario (demo.yaml in this package).
func Demo() Scenario {
	s, err := Parse(demoYAML)
	if err != nil {
		panic("fake: embedded demo.yaml: " + err.Error())
	}
	return s
}

// Load reads and validates a scenario file.
func Load(path string) (Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Scenario{}, fmt.Errorf("load scenario: %w", err)
	}
	s, err := Parse(data)
	if err != nil {
		return Scenario{}, fmt.Errorf("scenario %s: %w", path, err)
	}
	return s, nil
}

// Parse decodes and validates a scenario, reporting every problem at once.
func Parse(data []byte) (Scenario, error) {
	var s Scenario
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return Scenario{}, fmt.Errorf("parse scenario: %w", err)
	}
	if len(s.Apps) == 0 {
		return Scenario{}, errors.New("scenario has no apps")
	}
	if err := s.validate(); err != nil {
		return Scenario{}, err
	}
	return s, nil
}

func (s Scenario) validate() error {
	var errs []error
	keys := map[string]int{}
	for i, a := range s.Apps {
		if j, dup := keys[a.DevKey]; dup && a.DevKey != "" {
			errs = append(errs, fmt.Errorf("apps[%d].dev_key: %q is also the key of apps[%d]", i, a.DevKey, j))
		}
		keys[a.DevKey] = i
		errs = append(errs, a.validate(fmt.Sprintf("apps[%d]", i))...)
	}
	return errors.Join(errs...)
}

// validate returns one error per problem, each naming its key under path.
func (a App) validate(path string) []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", path, key, fmt.Sprintf(format, args...)))
	}
	// Unset amounts default to 0, but a step that names one must give it.
	amount := func(key, text string, required bool) {
		if _, err := decimal.NewFromString(text); err != nil && (text != "" || required) {
			bad(key, "%q is not a decimal", text)
		}
	}
	if a.DevKey == "" {
		bad("dev_key", "missing")
	}
	if a.DevSecret == "" {
		bad("dev_secret", "missing")
	}
	switch a.Product {
	case "", "otp":
	case "sms":
		if a.Currency != "" && a.Currency != "USD" {
			bad("currency", "the SMS API answers in USD, without a currency field")
		}
	default:
		bad("product", "%q is neither otp nor sms", a.Product)
	}
	amount("balance", a.Balance, false)
	amount("gift_balance", a.Gift, false)
	amount("drain_per_minute", a.DrainPerMinute, false)
	amount("recharge_amount", a.RechargeAmount, false)
	if a.RechargeEvery < 0 {
		bad("recharge_every", "must not be negative")
	}
	if a.RechargeEvery > 0 && a.RechargeAmount == "" {
		bad("recharge_amount", "missing (recharge_every is set)")
	}
	for i, st := range a.Steps {
		step := fmt.Sprintf("steps[%d]", i)
		if st.After < 0 || i > 0 && st.After < a.Steps[i-1].After {
			bad(step+".after", "steps must be in order of after, from 0")
		}
		if st.Balance != nil {
			amount(step+".balance", *st.Balance, true)
		}
		if st.Gift != nil {
			amount(step+".gift_balance", *st.Gift, true)
		}
		if st.Drain != nil {
			amount(step+".drain_per_minute", *st.Drain, true)
		}
		if st.Fail != nil {
			if err := st.Fail.validate(); err != nil {
				bad(step+".fail", "%v", err)
			}
		}
	}
	return errs
}

func (f Failure) validate() error {
	switch {
	case f.Status != 0 && (f.Status < 200 || f.Status > 599):
		return fmt.Errorf("status %d is not an HTTP status from 200 to 599", f.Status)
	case f.Status == 0 && (f.Body != "" || f.Code != 0 || f.Message != ""):
		return errors.New("status missing: body, code and message need one")
	case f.Times < 0:
		return errors.New("times must not be negative")
	case f.Delay < 0:
		return errors.New("delay must not be negative")
	}
	return nil
}
