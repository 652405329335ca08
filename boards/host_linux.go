package boards

// The periph.io host drivers the agent registers, on every Linux: the GPIO
// character device (/dev/gpiochipN, Linux 4.8) and sysfs GPIO, which name
// a pin by its kernel number (GPIO35).
import (
	_ "periph.io/x/host/v3/gpioioctl"
	_ "periph.io/x/host/v3/sysfs"
)
