module github.com/posagent/posagent/bench/escposcompare

go 1.26.8

require (
	github.com/hennedo/escpos v0.0.1
	github.com/posagent/posagent v0.0.0
)

require (
	github.com/boombuler/barcode v1.1.0 // indirect
	github.com/qiniu/iconv v1.2.0 // indirect
	github.com/skip2/go-qrcode v0.0.0-20200617195104-da1b6568686e // indirect
	golang.org/x/text v0.43.0 // indirect
)

replace github.com/posagent/posagent => ../..
