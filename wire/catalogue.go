package wire

// Catalogue is every message type of the contract (docs/protocol.md §5):
// who sends it, how it is signed, and its body. Both sides read it — the
// device's link and the platform's simulator refuse a type from the wrong
// side, the device's money flows sign each request as it says, the
// platform refuses a money-out request signed any other way — so a type's
// class or algorithm is said once.
var Catalogue = map[string]Spec{
	// Commands: platform → device, signed with the auth key.
	TypeNotifyPayment: {Command, HS256, NotifyPayment{}},
	TypeDeviceVolume:  {Command, HS256, DeviceVolume{}},
	TypeDeviceSpeak:   {Command, HS256, DeviceSpeak{}},
	TypeDeviceReboot:  {Command, HS256, nil},
	TypePrintJob:      {Command, HS256, PrintJob{}},
	TypePayCollect:    {Command, HS256, PayCollect{}},
	TypePayCancel:     {Command, HS256, OrderRef{}},
	TypeShiftStart:    {Command, HS256, ShiftStart{}},
	TypeShiftEnd:      {Command, HS256, ShiftEnd{}},
	TypeStaffRoster:   {Command, HS256, StaffRoster{}},
	TypeConfigSet:     {Command, HS256, ConfigSet{}},
	TypeOTAUpdate:     {Command, HS256, OTAUpdate{}},

	// Events: device → platform, signed with the auth key.
	TypeNotifyDone:         {Event, HS256, NotifyDone{}},
	TypeDeviceHello:        {Event, HS256, DeviceHello{}},
	TypeDeviceState:        {Event, HS256, DeviceState{}},
	TypeDeviceStorage:      {Event, HS256, DeviceStorage{}},
	TypePayProgress:        {Event, HS256, PayProgress{}},
	TypePayResult:          {Event, HS256, PayResult{}},
	TypePrintResult:        {Event, HS256, PrintResult{}},
	TypeRefundResult:       {Event, HS256, RefundResult{}},
	TypeDepositResult:      {Event, HS256, DepositResult{}},
	TypeShiftChanged:       {Event, HS256, ShiftChanged{}},
	TypeShiftSummary:       {Event, HS256, ShiftSummary{}},
	TypeStaffRosterApplied: {Event, HS256, StaffRosterApplied{}},
	TypeConfigApplied:      {Event, HS256, ConfigApplied{}},
	TypeConfigRejected:     {Event, HS256, ConfigRejected{}},
	TypeOTAProgress:        {Event, HS256, OTAProgress{}},
	TypeOTAResult:          {Event, HS256, OTAResult{}},
	TypeError:              {Event, HS256, Error{}},

	// Requests: device → platform, the money flows' steps. Those that move
	// money back to the customer or out of a freeze are PS256, the
	// device's own key (protocol §3.2): a leaked auth key alone cannot
	// reverse, refund, consume or release. A platform refuses those signed
	// any other way.
	TypePaySubmit:       {Request, HS256, PaySubmit{}},
	TypePayQuery:        {Request, HS256, OrderRef{}},
	TypePayReverse:      {Request, PS256, OrderRef{}},
	TypeOrderLookup:     {Request, HS256, OrderRef{}},
	TypeRefundRequest:   {Request, PS256, RefundRequest{}},
	TypeRefundQuery:     {Request, HS256, RefundQuery{}},
	TypeDepositConsume:  {Request, PS256, DepositRequest{}},
	TypeDepositUnfreeze: {Request, PS256, DepositRequest{}},
	TypeDepositQuery:    {Request, HS256, OrderRef{}},

	// Answers: platform → device, to the requests, signed with the auth key.
	TypePayStatus:     {Answer, HS256, PayStatus{}},
	TypeOrderFound:    {Answer, HS256, OrderFound{}},
	TypeRefundStatus:  {Answer, HS256, RefundStatus{}},
	TypeDepositStatus: {Answer, HS256, DepositStatus{}},
}

// Class is what a message type is, and so who sends it.
type Class int

const (
	Command Class = iota + 1 // platform → device, on the cmd topic
	Event                    // device → platform, on the evt topic
	Request                  // device → platform: a money flow's step
	Answer                   // platform → device, on the cmd topic: a request's answer
)

func (c Class) String() string {
	return [...]string{"", "command", "event", "request", "answer"}[c]
}

// FromPlatform says whether the platform sends messages of class c (the
// device takes them from its cmd topic).
func (c Class) FromPlatform() bool { return c == Command || c == Answer }

// Spec is one message type in the Catalogue.
type Spec struct {
	Class Class
	Alg   string // HS256 (the auth key) or PS256 (the device's own key)
	Body  any    // the body's struct, zero; nil for a type with no body
}

// RequestAlg is the algorithm a device request of type typ is signed with
// (false: typ is no device request).
func RequestAlg(typ string) (string, bool) {
	s, ok := Catalogue[typ]
	if !ok || s.Class != Request {
		return "", false
	}
	return s.Alg, true
}

// MoneyOut says whether a device request must be signed PS256.
func MoneyOut(typ string) bool {
	alg, _ := RequestAlg(typ)
	return alg == PS256
}
