"""Mail knowledge: parsing, quotes and signatures, codes and subjects, building and sending."""
