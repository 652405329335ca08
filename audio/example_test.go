package audio_test

import (
	"fmt"

	"github.com/posagent/posagent/audio"
)

func ExampleAnnouncement() {
	fmt.Println(audio.Announcement("pay", "wechat", 12850, audio.Options{}))
	fmt.Println(audio.Announcement("refund", "", 12805, audio.Options{Jiao: true}))
	fmt.Println(audio.AmountWords(2000000, audio.Options{Liang: true}))
	// Output:
	// 微信收款一百二十八点五元
	// 退款一百二十八元零五分
	// 两万元
}

func ExampleVoice_Render() {
	v := audio.DefaultVoice()
	pcm, err := v.Render(audio.Announcement("pay", "alipay", 100, audio.Options{}))
	if err != nil {
		panic(err)
	}
	pcm = audio.Scale(pcm, 6) // device volume 6 of 10
	fmt.Println(len(pcm) > audio.SampleRate)
	// Output: true
}
