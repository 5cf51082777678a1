package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/platform-paas/platform/server/api"
)

// configFile is what platform login saves: where the API is and the token
// to use there. The file holds a secret, so it is the user's alone (0600).
type configFile struct {
	APIURL string `json:"api_url"`
	Token  string `json:"token"`
}

// errNoConfigDir means there is nowhere to keep a config file.
var errNoConfigDir = errors.New("cannot tell where your config file goes: set HOME or XDG_CONFIG_HOME")

// configPath is $XDG_CONFIG_HOME/platform/config.json, else
// ~/.config/platform/config.json.
func (c *cli) configPath() (string, error) {
	if dir := c.getenv("XDG_CONFIG_HOME"); filepath.IsAbs(dir) {
		return filepath.Join(dir, "platform", "config.json"), nil
	}
	if home := c.getenv("HOME"); home != "" {
		return filepath.Join(home, ".config", "platform", "config.json"), nil
	}
	return "", errNoConfigDir
}

// loadConfig reads the config file; a missing one is empty.
func (c *cli) loadConfig() (configFile, string, error) {
	path, err := c.configPath()
	if err != nil {
		return configFile{}, "", err
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return configFile{}, path, nil
	}
	if err != nil {
		return configFile{}, path, fmt.Errorf("reading your config: %w", err)
	}
	var cf configFile
	if err := json.Unmarshal(b, &cf); err != nil {
		return configFile{}, path, fmt.Errorf("config file %s is not valid JSON: run platform login to write it again", path)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(c.stderr, "warning: %s holds your token but others can read it: chmod 600 %s\n", path, path)
	}
	return cf, path, nil
}

// saveConfig writes the config file, readable by the user only, through a
// temporary file so that a crash leaves the old one whole.
func (c *cli) saveConfig(cf configFile) (string, error) {
	path, err := c.configPath()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("saving your config: %w", err)
	}
	b, err := json.MarshalIndent(cf, "", "  ")
	if err != nil {
		return "", fmt.Errorf("saving your config: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".config-*.json")
	if err != nil {
		return "", fmt.Errorf("saving your config: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename, there is nothing to remove
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close()
		return "", fmt.Errorf("saving your config: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		_ = tmp.Close()
		return "", fmt.Errorf("saving your config: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("saving your config: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("saving your config: %w", err)
	}
	return path, nil
}

// settings are the API URL and token to use: each from the environment
// (PLATFORM_API_URL, PLATFORM_TOKEN) if set, else from the config file.
// tokenFrom says where the token came from, for whoami.
func (c *cli) settings() (apiURL, token, tokenFrom string, err error) {
	apiURL, token = c.getenv("PLATFORM_API_URL"), c.getenv("PLATFORM_TOKEN")
	if token != "" {
		tokenFrom = "the environment (PLATFORM_TOKEN), which wins over a saved login"
	}
	if apiURL != "" && token != "" {
		return apiURL, token, tokenFrom, nil
	}
	cf, path, err := c.loadConfig()
	if err != nil && !errors.Is(err, errNoConfigDir) {
		return "", "", "", err
	}
	if apiURL == "" {
		apiURL = cf.APIURL
	}
	if token == "" {
		token, tokenFrom = cf.Token, "your saved login ("+path+")"
	}
	return apiURL, token, tokenFrom, nil
}

// client returns an API client for the settings, or says how to log in.
func (c *cli) client() (*api.Client, error) {
	apiURL, token, _, err := c.settings()
	if err != nil {
		return nil, err
	}
	switch {
	case apiURL == "":
		return nil, errors.New("no API URL: run platform login, or set PLATFORM_API_URL")
	case token == "":
		return nil, errors.New("not logged in: run platform login, or set PLATFORM_TOKEN")
	}
	return c.newClient(apiURL, token)
}

func (c *cli) newClient(apiURL, token string) (*api.Client, error) {
	return api.NewClient(api.ClientConfig{
		URL:        apiURL,
		Token:      token,
		UserAgent:  "platform-cli/" + version,
		HTTPClient: c.http,
	})
}
