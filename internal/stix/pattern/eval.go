package pattern

// compiled is the evaluation form of a Comparison.
type compiled struct{}

func compile(c *Comparison) *compiled { return &compiled{} }
