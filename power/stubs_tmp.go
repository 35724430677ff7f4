package power

func WebhookDriverInfo() DriverInfo { return DriverInfo{Name: "webhook"} }
