// A Go consumer of l0_monitoring's records, built on types that quicktype
// generates from the published JSON Schemas (types.go, generated next to this
// file by the test suite; standard library only, so it builds offline).
//
// Usage: l0consumer telemetry|events|aggregates FILE
//
// Every document is decoded into the generated type, encoded again and compared
// with the original: the generated type must carry every key the package wrote
// (open objects such as guardrail violations may hold more), with the same
// values. The percentile keys of aggregates.json (p50_ttft, p99.9_duration...)
// are pattern properties: the generated struct has no field for them (its
// Marshal drops them), so they are read as a map[string]*float64.
// Prints a summary the Python test checks against its own reading.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"
)

// The AggregateMetrics pattern property: keys no generated struct field holds.
var percentileKey = regexp.MustCompile(`^p[0-9]+(\.[0-9]+)?_(ttft|duration|tokens_per_sec)$`)

// inMap: keys at the top level of the document read as a map, not through the struct.
var inMap *regexp.Regexp

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

// sameValue compares an original JSON value with its round trip through the
// generated type. Date-times compare as instants (Go writes 1.5Z for 1.500000Z).
func sameValue(orig, round interface{}, path string) error {
	if a, ok := orig.(string); ok {
		if b, ok := round.(string); ok && a != b {
			ta, errA := time.Parse(time.RFC3339Nano, a)
			tb, errB := time.Parse(time.RFC3339Nano, b)
			if errA == nil && errB == nil && ta.Equal(tb) {
				return nil
			}
		}
	}
	if o, ok := orig.(map[string]interface{}); ok {
		r, ok := round.(map[string]interface{})
		if !ok {
			return fmt.Errorf("%s: object became %T", path, round)
		}
		open := strings.HasSuffix(path, ".violations[]")
		for key, value := range o {
			rv, present := r[key]
			if !present {
				if open || (path == "$" && inMap != nil && inMap.MatchString(key)) {
					continue
				}
				return fmt.Errorf("%s.%s: key lost by the generated type", path, key)
			}
			if err := sameValue(value, rv, path+"."+key); err != nil {
				return err
			}
		}
		for key := range r {
			if _, present := o[key]; !present {
				return fmt.Errorf("%s.%s: key invented by the generated type", path, key)
			}
		}
		return nil
	}
	if o, ok := orig.([]interface{}); ok {
		r, ok := round.([]interface{})
		if !ok || len(r) != len(o) {
			return fmt.Errorf("%s: array changed", path)
		}
		for i := range o {
			if err := sameValue(o[i], r[i], path+"[]"); err != nil {
				return err
			}
		}
		return nil
	}
	if !reflect.DeepEqual(orig, round) {
		return fmt.Errorf("%s: %v became %v", path, orig, round)
	}
	return nil
}

func roundTrip(line []byte, typed interface{ Marshal() ([]byte, error) }) error {
	var orig, round interface{}
	if err := json.Unmarshal(line, &orig); err != nil {
		return err
	}
	out, err := typed.Marshal()
	if err != nil {
		return err
	}
	if err := json.Unmarshal(out, &round); err != nil {
		return err
	}
	return sameValue(orig, round, "$")
}

func main() {
	if len(os.Args) != 3 {
		fail("usage: l0consumer telemetry|events|aggregates FILE")
	}
	kind, name := os.Args[1], os.Args[2]
	file, err := os.Open(name)
	if err != nil {
		fail("%v", err)
	}
	defer file.Close()
	if kind == "aggregates" {
		data, err := os.ReadFile(name)
		if err != nil {
			fail("%v", err)
		}
		agg, err := UnmarshalAggregateMetrics(data)
		if err != nil {
			fail("aggregates: %v", err)
		}
		inMap = percentileKey
		if err := roundTrip(data, &agg); err != nil {
			fail("aggregates: %v", err)
		}
		var all map[string]*float64 // every aggregate is a number or null
		if err := json.Unmarshal(data, &all); err != nil {
			fail("aggregates: %v", err)
		}
		keys := []string{}
		for k := range all {
			if percentileKey.MatchString(k) {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			if all[k] == nil {
				parts = append(parts, k+":null")
			} else {
				parts = append(parts, fmt.Sprintf("%s:%.6f", k, *all[k]))
			}
		}
		fmt.Printf("count=%d completed=%d total_tokens=%d percentiles=%s\n", agg.Count, agg.CompletedCount, agg.TotalTokens, strings.Join(parts, ","))
		return
	}
	scanner := bufio.NewScanner(file)
	scanner.Buffer(make([]byte, 1<<20), 1<<26)
	records, tokens, withTTFT := 0, int64(0), 0
	tally := map[string]int{}
	for number := 1; scanner.Scan(); number++ {
		line := scanner.Bytes()
		// Blank: JSON whitespace only (strings.TrimSpace would also drop U+00A0).
		if len(strings.Trim(string(line), " \t\r")) == 0 {
			continue
		}
		records++
		switch kind {
		case "telemetry":
			t, err := UnmarshalTelemetry(line)
			if err != nil {
				fail("line %d: %v", number, err)
			}
			if err := roundTrip(line, &t); err != nil {
				fail("line %d: %v", number, err)
			}
			// Non-optional fields: no nil checks for what is always present.
			tokens += t.Metrics.TokenCount
			tally[string(t.Outcome)]++
			if t.Metrics.TimeToFirstToken != nil {
				withTTFT++
			}
		case "events":
			e, err := UnmarshalObservabilityEvent(line)
			if err != nil {
				fail("line %d: %v", number, err)
			}
			if err := roundTrip(line, &e); err != nil {
				fail("line %d: %v", number, err)
			}
			tally[e.Type]++
		default:
			fail("unknown kind %q", kind)
		}
	}
	if err := scanner.Err(); err != nil {
		fail("%v", err)
	}
	keys := make([]string, 0, len(tally))
	for k := range tally {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s:%d", k, tally[k]))
	}
	fmt.Printf("records=%d tokens=%d with_ttft=%d tally=%s\n", records, tokens, withTTFT, strings.Join(parts, ","))
}
