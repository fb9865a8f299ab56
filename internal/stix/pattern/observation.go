package pattern

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/go-json-experiment/json"
)

// ObservationFromJSON builds an Observation from the JSON of an
// observed-data object and of the objects it refers to.
//
// For STIX 2.1 observed-data (object_refs), objects must hold the
// referenced SCOs and may hold more (objects those SCOs reference, such as
// a network-traffic's src_ref address); Objects of the result are the ones
// object_refs names, in its order, and an object_refs entry with no object
// given is skipped. For STIX 2.0 observed-data (an embedded "objects"
// dictionary) objects is not needed and its entries are ignored.
//
// It returns an error when a JSON text does not decode to an object, when
// first_observed or last_observed is missing or not a STIX timestamp, or
// when number_observed is present and not an integer from 1 to
// 999,999,999.
func ObservationFromJSON(observedData []byte, objects ...[]byte) (Observation, error) {
	var od map[string]any
	if err := json.Unmarshal(observedData, &od); err != nil {
		return Observation{}, fmt.Errorf("observed-data: %w", err)
	}
	byID := make(map[string]map[string]any, len(objects))
	for i, raw := range objects {
		var obj map[string]any
		if err := json.Unmarshal(raw, &obj); err != nil {
			return Observation{}, fmt.Errorf("object %d: %w", i, err)
		}
		if id, ok := obj["id"].(string); ok {
			byID[id] = obj
		}
	}
	return NewObservation(od, func(id string) map[string]any { return byID[id] })
}

// observedTimes reads first_observed, last_observed and number_observed.
func observedTimes(o *Observation, od map[string]any) error {
	var err error
	if o.FirstObserved, err = timeProp(od, "first_observed"); err != nil {
		return err
	}
	if o.LastObserved, err = timeProp(od, "last_observed"); err != nil {
		return err
	}
	o.NumberObserved = 1
	if v, ok := od["number_observed"]; ok {
		f, ok := v.(float64)
		if !ok || f != math.Trunc(f) || f < 1 || f > 999999999 {
			return fmt.Errorf("observed-data: number_observed %v is not an integer from 1 to 999999999", v)
		}
		o.NumberObserved = int(f)
	}
	return nil
}

// NewObservation builds an Observation from a decoded observed-data object.
// resolve returns the object with a given id, or nil; it is called once
// for each object_refs entry (STIX 2.1) and once for each *_ref or *_refs
// value reachable from those objects, so that the Observation carries
// every object a pattern can reach. resolve is not used for STIX 2.0
// observed-data, whose objects are embedded. Errors are as for
// ObservationFromJSON.
func NewObservation(od map[string]any, resolve func(id string) map[string]any) (Observation, error) {
	var o Observation
	if err := observedTimes(&o, od); err != nil {
		return o, err
	}
	if emb, ok := od["objects"].(map[string]any); ok && od["object_refs"] == nil {
		keys := make([]string, 0, len(emb))
		for k := range emb {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		o.ByRef = make(map[string]map[string]any, len(emb))
		for _, k := range keys {
			if m, ok := emb[k].(map[string]any); ok {
				o.ByRef[k] = m
				o.Objects = append(o.Objects, m)
			}
		}
		return o, nil
	}
	refs, _ := od["object_refs"].([]any)
	ids := make([]string, 0, len(refs))
	for _, r := range refs {
		if id, ok := r.(string); ok {
			ids = append(ids, id)
		}
	}
	o.resolveRefs(ids, resolve)
	return o, nil
}

// NewObservationRefs is NewObservation for STIX 2.1 observed data read
// property by property: firstObserved and lastObserved are the
// timestamps' JSON strings, numberObserved is number_observed when
// hasNumber, objectRefs are the object_refs. The result and the errors
// are those NewObservation gives for an observed-data object with these
// properties.
func NewObservationRefs(firstObserved, lastObserved string, numberObserved float64, hasNumber bool, objectRefs []string, resolve func(id string) map[string]any) (Observation, error) {
	var o Observation
	var ok bool
	if o.FirstObserved, ok = parseJSONTime(firstObserved); !ok {
		return o, fmt.Errorf("observed-data: first_observed %q is not a STIX timestamp", firstObserved)
	}
	if o.LastObserved, ok = parseJSONTime(lastObserved); !ok {
		return o, fmt.Errorf("observed-data: last_observed %q is not a STIX timestamp", lastObserved)
	}
	o.NumberObserved = 1
	if hasNumber {
		f := numberObserved
		if f != math.Trunc(f) || f < 1 || f > 999999999 {
			return o, fmt.Errorf("observed-data: number_observed %v is not an integer from 1 to 999999999", f)
		}
		o.NumberObserved = int(f)
	}
	o.resolveRefs(objectRefs, resolve)
	return o, nil
}

// resolveRefs sets o.Objects to the objects ids name (those resolve
// finds) and o.ByRef to them and every object they reference,
// transitively.
func (o *Observation) resolveRefs(ids []string, resolve func(id string) map[string]any) {
	o.ByRef = make(map[string]map[string]any, len(ids))
	if resolve == nil {
		return
	}
	for _, id := range ids {
		obj := resolve(id)
		if obj == nil {
			continue
		}
		if o.Objects == nil {
			o.Objects = make([]map[string]any, 0, len(ids))
		}
		o.Objects = append(o.Objects, obj)
		o.ByRef[id] = obj
	}
	// Pull in what the observed objects reference, transitively.
	queue := append([]map[string]any(nil), o.Objects...)
	for len(queue) > 0 {
		obj := queue[0]
		queue = queue[1:]
		collectRefs(obj, 0, func(id string) {
			if _, done := o.ByRef[id]; done {
				return
			}
			o.ByRef[id] = nil // resolve each id once
			if m := resolve(id); m != nil {
				o.ByRef[id] = m
				queue = append(queue, m)
			}
		})
	}
	for id, m := range o.ByRef {
		if m == nil {
			delete(o.ByRef, id)
		}
	}
}

// collectRefs calls fn with every string held by a *_ref or *_refs
// property anywhere inside v.
func collectRefs(v any, depth int, fn func(string)) {
	if depth > 64 {
		return
	}
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			switch fl := keyFlags(k, 0); {
			case fl&fRef != 0:
				if s, ok := e.(string); ok {
					fn(s)
				}
			case fl&fRefList != 0:
				if l, ok := e.([]any); ok {
					for _, r := range l {
						if s, ok := r.(string); ok {
							fn(s)
						}
					}
				}
			default:
				collectRefs(e, depth+1, fn)
			}
		}
	case []any:
		for _, e := range x {
			collectRefs(e, depth+1, fn)
		}
	}
}

func timeProp(od map[string]any, name string) (t0 time.Time, err error) {
	s, ok := od[name].(string)
	if !ok {
		return t0, fmt.Errorf("observed-data: %s is missing or not a string", name)
	}
	t, ok := parseJSONTime(s)
	if !ok {
		return t0, fmt.Errorf("observed-data: %s %q is not a STIX timestamp", name, s)
	}
	return t, nil
}
