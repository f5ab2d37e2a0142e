"""Publishing a night: datacheck plots, the night page and the SFTP push."""
