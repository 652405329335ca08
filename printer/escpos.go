package printer

// ESC/POS bytes used by Encode and understood by Decode.
const (
	lf  = 0x0a
	esc = 0x1b
	fs  = 0x1c
	gs  = 0x1d
	dle = 0x10
	eot = 0x04
)

// Alignments as sent with ESC a n.
const (
	AlignLeft   = 0
	AlignCenter = 1
	AlignRight  = 2
)

// Fixed parameters of the commands Encode emits.
const (
	qrMaxModule    = 8   // largest QR module in dots: bigger only wastes paper
	qrLevelM       = 49  // GS ( k fn 169 error-correction level M ('1')
	barcodeHeight  = 80  // dots, 10 mm at 203 dpi
	barcodeMaxW    = 3   // module width in dots; wider gains nothing for scanning
	hriBelow       = 2   // GS H 2: human-readable text under the bars
	endFeedLines   = 4   // ESC d: bring the last line past the tear bar / cutter
	partialCutFeed = 0   // GS V 66 n: extra feed before the partial cut
	code128MaxData = 255 // GS k 73 n: n is one byte and counts the "{B" prefix
)

// qrCapacityM is the byte-mode capacity of QR versions 1..40 at level M; it
// decides the module size so the symbol fits the paper, and rejects
// payloads no QR can hold.
var qrCapacityM = [...]int{
	14, 26, 42, 62, 84, 106, 122, 152, 180, 213,
	251, 287, 331, 362, 412, 450, 504, 560, 624, 666,
	711, 779, 857, 911, 997, 1059, 1125, 1190, 1264, 1370,
	1452, 1538, 1628, 1722, 1809, 1911, 1989, 2099, 2213, 2331,
}
