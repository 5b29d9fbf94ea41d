"""Provider wire formats. Each dialect module holds every wire-format detail of one provider."""
